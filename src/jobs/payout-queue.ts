/** A message asking the payout worker to submit one payout to the bank. */
export interface PayoutMessage {
  payout_id: string;
}
