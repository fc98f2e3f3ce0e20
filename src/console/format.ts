/**
 * How the operator console writes money and time: Argentine pesos as an Argentine reads them
 * (`$ 4.242,42`: thousands '.', decimals ','), and instants in Buenos Aires time. Plain
 * functions, so that the pages stay markup and these stay unit-tested.
 */

/**
 * Centavos (an integer, or a bigint for sums past 2^53) → `$ 4.242,42`; negative as `-$ 4.242,42`
 * (how es-AR writes it). Integer arithmetic only: a float never touches an amount.
 */
export function formatArs(centavos: number | bigint): string {
  if (typeof centavos === "number" && !Number.isSafeInteger(centavos)) {
    throw new RangeError(`An amount must be a safe integer of centavos, got ${centavos}.`);
  }
  const value = BigInt(centavos);
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const pesos = (magnitude / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  const cents = (magnitude % 100n).toString().padStart(2, "0");
  return `${negative ? "-" : ""}$ ${pesos},${cents}`;
}

/** An amount in its currency: ARS as pesos; any other currency as its code and the same digits. */
export function formatAmount(centavos: number | bigint, currency: string): string {
  return currency.toUpperCase() === "ARS" ? formatArs(centavos) : `${currency.toUpperCase()} ${formatArs(centavos).replace("$ ", "")}`;
}

export const BUENOS_AIRES = "America/Argentina/Buenos_Aires";

const buenosAiresParts = new Intl.DateTimeFormat("en-GB", {
  timeZone: BUENOS_AIRES,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/**
 * An instant (RFC 3339 text or epoch milliseconds) → `28/11/2026 01:02:14` in Buenos Aires time
 * (day first, 24 h, as Argentina writes it). From the time-zone database rather than a fixed
 * −03:00: Argentina kept summer time in 2007–2009, and an old payment must read as it happened.
 */
export function formatBuenosAires(instant: string | number): string {
  const date = new Date(instant);
  if (Number.isNaN(date.getTime())) throw new RangeError(`Not an instant: ${String(instant)}.`);
  const part = Object.fromEntries(buenosAiresParts.formatToParts(date).map((p) => [p.type, p.value]));
  return `${part.day}/${part.month}/${part.year} ${part.hour}:${part.minute}:${part.second}`;
}

/** Today's business date in Buenos Aires (`YYYY-MM-DD`), the default for a reconciliation. */
export function buenosAiresDate(now: number = Date.now()): string {
  const [day, month, year] = formatBuenosAires(now).slice(0, 10).split("/");
  return `${year}-${month}-${day}`;
}
