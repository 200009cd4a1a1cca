// Live accrual updates through the npm `graphql-ws` client — what a CRM's front end uses —
// with `ws` as its WebSocket, against a running service.
//
//   SUBSCRIBE_TOKEN=<jwt> node tests/js/subscribe.mjs ws://127.0.0.1:8000/graphql '{"dealer":"D1"}' 2
//
// Connects with the token in connection_init's payload (none when SUBSCRIBE_TOKEN is unset),
// subscribes to accrualUpdates with the variables given and prints one JSON object per line,
// each with `at` (Date.now()): {"event":"connected"}, {"event":"subscribed"}, every push as
// {"event":"next","payload":{data,errors}}, a refusal as {"event":"error","errors":[…]} or, for
// a closed socket, {"event":"error","close":{code,reason}}, then {"event":"done"} after
// `count` pushes, when the subscription ended or after SUBSCRIBE_TIMEOUT_MS (20 s).
// Run by tests/api/test_subscriptions_graphql_ws.py; `npm ci` installs the pinned packages.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const QUERY = `subscription($dealer: String, $program: String) {
  accrualUpdates(dealerCode: $dealer, programCode: $program) {
    id period basis rate grossAmount netAmount status dealer { code } program { code } } }`;

const [url, variablesText = '{}', countText = '1'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node tests/js/subscribe.mjs <ws url of /graphql> [variables] [count]');
  process.exit(2);
}
const variables = JSON.parse(variablesText);
const count = Number(countText);
const token = process.env.SUBSCRIBE_TOKEN;
const timeoutMs = Number(process.env.SUBSCRIBE_TIMEOUT_MS ?? 20000);

function print(event) {
  process.stdout.write(`${JSON.stringify({ ...event, at: Date.now() })}\n`);
}

function described(error) {
  if (Array.isArray(error)) return { errors: error };
  if (error && typeof error.code === 'number') {
    return { close: { code: error.code, reason: error.reason } };
  }
  return { failure: String(error) };
}

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  retryAttempts: 0, // a refusal is what some tests look for: report it, never retry
  on: { connected: () => print({ event: 'connected' }) },
});

let pushes = 0;
let finished = false;
async function finish() {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  print({ event: 'done', pushes });
  await client.dispose();
  process.exit(0);
}
const timer = setTimeout(() => {
  print({ event: 'timeout' });
  finish();
}, timeoutMs);

client.subscribe(
  { query: QUERY, variables },
  {
    next: (result) => {
      pushes += 1;
      print({ event: 'next', payload: result });
      if (pushes >= count) finish();
    },
    error: (error) => {
      print({ event: 'error', ...described(error) });
      finish();
    },
    complete: () => {
      print({ event: 'complete' });
      finish();
    },
  },
);
print({ event: 'subscribed' });
