// A merchant's webhook receiver, verified with Stripe's library (README, "Receiving webhooks").
//
//   WEBHOOK_SECRET=whsec_… PORT=4242 node examples/webhook-receiver.mjs
//
// Our deliveries are signed the way Stripe signs its own (`t=<unix seconds>,v1=<hex HMAC-SHA256
// over "<t>.<raw body>">`), so `stripe.webhooks.constructEvent` verifies them. Two differences:
// the header is `Signature`, not `Stripe-Signature`; and the secret is the merchant's
// `webhook_secret` from POST /v1/merchants (or POST /v1/merchant/webhook-secret), not Stripe's.
import http from "node:http";
import Stripe from "stripe";

const port = Number(process.env.PORT ?? 4242);
const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error("Set WEBHOOK_SECRET to the merchant's webhook_secret (whsec_…).");
  process.exit(1);
}

// Only the webhook helpers are used: nothing here ever calls Stripe, so the key is a placeholder.
const stripe = new Stripe("sk_test_unused");

// Delivery is at least once: the same event may arrive again. A real receiver keeps the ids it
// has handled in its database; a Set is enough to show the idea.
const handled = new Set();

const server = http.createServer(async (req, res) => {
  if (req.method !== "POST" || req.url !== "/webhooks") {
    res.writeHead(404).end();
    return;
  }
  // Verify the exact bytes received: parsing and re-serializing the JSON would change them.
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const rawBody = Buffer.concat(chunks);

  let event;
  try {
    // Throws if the signature does not match or its timestamp is more than 300 s old.
    event = stripe.webhooks.constructEvent(rawBody, req.headers["signature"], secret);
  } catch (error) {
    console.warn(`refused a delivery: ${String(error.message).split("\n")[0]}`);
    res.writeHead(400, { "content-type": "text/plain" }).end("bad signature\n");
    return;
  }

  if (handled.has(event.id)) {
    console.log(`${event.id} again (already handled)`);
  } else {
    handled.add(event.id);
    console.log(`${event.type} ${event.id}`, JSON.stringify(event.data.object));
  }
  // Any 2xx within 10 s acknowledges; anything else is retried with backoff.
  res.writeHead(204).end();
});

server.listen(port, () => console.log(`Receiving webhooks on http://localhost:${port}/webhooks`));
