-- Issue 8, item 11: a CUIT is public, so knowing one proves nothing (API §4 and §7).
--
-- customer_links.supplied_cbu: the CBU this merchant gave when it registered the customer, kept
--   only when it matched the CBU on file. A merchant that has not transacted with the customer
--   sees the customer's CBU only if it already knew it (API §4). Whether it has transacted is
--   read from payments and payouts (payments_by_customer, payouts_by_customer), so the cash-in
--   and payout paths write nothing more.
ALTER TABLE customer_links ADD COLUMN supplied_cbu TEXT;

-- A payout goes only to an account the customer holds (API §7): one from which we received a
-- transfer whose sender CUIT is the customer's. The bank reports senders as it likes (dashes or
-- not), so the index and its query compare the forms without dashes; a form with anything else
-- in it is no valid CBU or CUIT and never equals the normalized values the query binds.
CREATE INDEX payments_by_sender_account ON payments(REPLACE(sender_cbu, '-', ''), REPLACE(sender_cuit, '-', ''));
