// The graphql-http server audits (GraphQL-over-HTTP conformance) against a running service.
//
//   node tests/js/audit.mjs http://127.0.0.1:8000/graphql
//
// The URL comes from the first argument (or GRAPHQL_AUDIT_URL); the endpoint wants a bearer
// token, taken from GRAPHQL_AUDIT_TOKEN and added to every request the audits make. Prints one
// JSON document: the counts per requirement level and, per audit, its id, name, level, status
// (ok | warn | error | notice) and, when it did not pass, the reason and the response.
// Run by tests/api/test_graphql_http_audit.py; `npm ci` installs the pinned package.
import { readFile } from 'node:fs/promises';
import { serverAudits } from 'graphql-http';

const url = process.argv[2] ?? process.env.GRAPHQL_AUDIT_URL;
const token = process.env.GRAPHQL_AUDIT_TOKEN;
if (!url) {
  console.error('usage: node tests/js/audit.mjs <url of the GraphQL endpoint>');
  process.exit(2);
}

let lastResponse = null; // a copy of the response the running audit got last

async function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  if (token && !headers.has('authorization')) {
    headers.set('authorization', `Bearer ${token}`);
  }
  const response = await fetch(input, { ...init, headers });
  lastResponse = response.clone();
  return response;
}

async function describe(response) {
  if (!response) return null;
  let body = await response.text();
  if (body.length > 2000) body = `${body.slice(0, 2000)}…`;
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body,
  };
}

const pkg = JSON.parse(
  await readFile(new URL('../../node_modules/graphql-http/package.json', import.meta.url)),
);
const results = [];
// One at a time: each failure is reported with the response its own request got.
for (const { id, name, fn } of serverAudits({ url, fetchFn })) {
  lastResponse = null;
  const result = await fn();
  const level = name.split(' ')[0];
  const entry = { id, name, level, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    entry.response = await describe(lastResponse);
  }
  results.push(entry);
}

const counts = {};
for (const { level, status } of results) {
  counts[level] ??= {};
  counts[level][status] = (counts[level][status] ?? 0) + 1;
}
console.log(JSON.stringify({ url, graphqlHttp: pkg.version, total: results.length, counts,
                             results }, null, 2));
