/**
 * Business days are Argentine (API §9): a statement line belongs to the day on which it was
 * booked in America/Argentina/Buenos_Aires.
 */
const formatter = new Intl.DateTimeFormat("en-CA", {
  timeZone: "America/Argentina/Buenos_Aires",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
});

/** YYYY-MM-DD in Buenos Aires for an instant in ms. */
export function businessDateOf(instant_ms: number): string {
  return formatter.format(new Date(instant_ms));
}

/** The business day before the one containing `instant_ms`. */
export function previousBusinessDate(instant_ms: number): string {
  const today = businessDateOf(instant_ms);
  const noonUtc = Date.parse(`${today}T12:00:00Z`);
  return new Date(noonUtc - 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
}
