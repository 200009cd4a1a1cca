// Our service as a subgraph of a CRM's supergraph, with the npm packages a CRM team uses:
// a stand-in CRM subgraph (@apollo/subgraph, served by @apollo/server) whose `Account`
// references our `Dealer` by code; our subgraph SDL from `_service { sdl }`; a supergraph
// composed by @apollo/composition; served by @apollo/gateway, which forwards the caller's
// Authorization header to every subgraph. Then it asks the gateway for accounts and their
// dealers' accruals, with each caller's token.
//
//   node tests/js/gateway.mjs < plan.json
//
// The plan (stdin, JSON):
//   { "rebates": "http://127.0.0.1:8000/graphql",       our GraphQL endpoint
//     "sdlToken": "<JWT>",                              a token to read `_service { sdl }`
//     "accounts": [{"id": "A1", "name": "…", "dealer": "D001"}, …],   the CRM's accounts
//     "calls": [{"label": "admin", "token": "<JWT>", "account": "A1"}, …] }
// Prints one JSON document: { "composition": {...}, "results": [{label, account, status,
// body}] }, each body the gateway's answer to ACCOUNT_QUERY. Run by
// tests/api/test_federation.py; `npm ci` installs the pinned packages.
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

export const ACCOUNT_QUERY = `query Account($id: ID!) {
  account(id: $id) {
    name
    dealer { accruals(first: 4) { edges { node { period netAmount } } } }
  }
}`;

const CRM_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", import: ["@key"])

  type Query {
    account(id: ID!): Account
  }

  "A customer account of the CRM."
  type Account @key(fields: "id") {
    id: ID!
    name: String!
    "The rebate service's dealer this account is (null: not a dealer)."
    dealer: Dealer
  }

  # the rebate subgraph resolves it: the CRM knows only its code
  type Dealer @key(fields: "code", resolvable: false) {
    code: String!
  }
`;

// Servers log to stderr: stdout is the report.
const logger = {
  debug: () => {},
  info: (message) => console.error(message),
  warn: (message) => console.error(message),
  error: (message) => console.error(message),
};

async function readPlan() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function startCrm(accounts) {
  const byId = new Map(accounts.map((account) => [account.id, account]));
  const resolvers = {
    Query: { account: (_, { id }) => byId.get(id) ?? null },
    Account: {
      __resolveReference: ({ id }) => byId.get(id) ?? null,
      dealer: (account) => (account.dealer ? { __typename: 'Dealer', code: account.dealer } : null),
    },
  };
  const server = new ApolloServer({
    schema: buildSubgraphSchema({ typeDefs: parse(CRM_SDL), resolvers }),
    logger,
  });
  const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });
  return { server, url };
}

async function subgraphSdl(url, token) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) throw new Error(`_service: ${response.status} ${JSON.stringify(body)}`);
  return body.data._service.sdl;
}

function compose(crmUrl, rebatesUrl, rebatesSdl) {
  const result = composeServices([
    { name: 'crm', url: crmUrl, typeDefs: parse(CRM_SDL) },
    { name: 'rebates', url: rebatesUrl, typeDefs: parse(rebatesSdl) },
  ]);
  if (result.errors) {
    throw new Error(`composition failed: ${result.errors.map((e) => e.message).join('; ')}`);
  }
  return result;
}

// The caller's token goes to every subgraph: our service scopes a DEALER's reads by it.
class ForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) request.http.headers.set('authorization', context.authorization);
  }
}

async function startGateway(supergraphSdl) {
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ url }) => new ForwardingDataSource({ url }),
    logger,
  });
  const server = new ApolloServer({ gateway, logger });
  const { url } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: 0 },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  });
  return { server, url };
}

async function ask(url, token, account) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: ACCOUNT_QUERY, variables: { id: account } }),
  });
  return { status: response.status, body: await response.json() };
}

const plan = await readPlan();
const crm = await startCrm(plan.accounts);
let gateway = null;
try {
  const sdl = await subgraphSdl(plan.rebates, plan.sdlToken);
  const composed = compose(crm.url, plan.rebates, sdl);
  gateway = await startGateway(composed.supergraphSdl);
  const results = [];
  for (const call of plan.calls) {
    results.push({ label: call.label, account: call.account, ...(await ask(gateway.url, call.token, call.account)) });
  }
  const entity = /type Dealer[^{]*@join__type\(graph: REBATES, key: "code"\)/.test(composed.supergraphSdl);
  console.log(JSON.stringify({
    composition: { dealerIsAnEntityOfRebates: entity, hints: composed.hints.map((h) => h.toString()) },
    results,
  }));
} finally {
  await gateway?.server.stop();
  await crm.server.stop();
}
