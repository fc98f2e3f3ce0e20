/**
 * A sweep's daily schedule (API §12): times are Buenos Aires wall-clock times. Pure arithmetic,
 * unit-tested on the day boundaries (test/sweeps/schedule.test.ts).
 *
 * Argentina keeps UTC−3 all year (no daylight saving since 2009), so an HH:MM there is a fixed
 * instant of each business day; `occurrenceOn` asserts that the time-zone data agrees, so that
 * a future change of Argentine time fails loudly instead of running sweeps an hour off.
 */
import { assert } from "../assert";
import { businessDateOf, previousBusinessDate } from "../domain/business-day";

export const sweepTimeZone = "America/Argentina/Buenos_Aires" as const;
const buenosAiresUtcOffset = "-03:00";
const minuteMs = 60_000;

/** "HH:MM", 00:00 to 23:59. */
export const scheduleTimePattern = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** Minutes after midnight of a valid "HH:MM". */
export function minutesOfScheduleTime(time: string): number {
  assert(scheduleTimePattern.test(time), `not a schedule time: ${time}`);
  return Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));
}

/** The instant (ms) at which Buenos Aires day `business_day` (YYYY-MM-DD) begins. */
export function businessDayStart(business_day: string): number {
  const start = Date.parse(`${business_day}T00:00:00${buenosAiresUtcOffset}`);
  assert(Number.isFinite(start) && businessDateOf(start) === business_day && businessDateOf(start - 1) !== business_day, `Buenos Aires is not at UTC${buenosAiresUtcOffset} on ${business_day}`);
  return start;
}

/** One scheduled moment of a sweep: the business day it belongs to, and when it is. */
export interface Occurrence {
  business_day: string;
  at_ms: number;
}

export function occurrenceOn(business_day: string, schedule_minutes: number): Occurrence {
  return { business_day, at_ms: businessDayStart(business_day) + schedule_minutes * minuteMs };
}

/**
 * The latest occurrence at or before `now_ms`: today's (Buenos Aires) when its time has come,
 * else yesterday's. This is the only occurrence a tick may run: a tick late by minutes or hours
 * still runs it (even after midnight: a 23:58 sweep's run is made by the 00:00 tick and belongs
 * to the day before), and an occurrence that no tick reached before the next one came is never
 * made up (the next run moves the whole excess anyway: a sweep moves a balance, not a flow).
 */
export function latestOccurrence(schedule_minutes: number, now_ms: number): Occurrence {
  const today = occurrenceOn(businessDateOf(now_ms), schedule_minutes);
  return today.at_ms <= now_ms ? today : occurrenceOn(previousBusinessDate(now_ms), schedule_minutes);
}

/**
 * What a tick at `now_ms` needs to select, in SQL, every sweep's latest occurrence at once:
 * a sweep whose minutes are ≤ `minutes_now` occurred today, the others yesterday.
 */
export interface TickWindow {
  minutes_now: number;
  today: Occurrence; // at minute 0
  yesterday: Occurrence; // at minute 0
}

export function tickWindow(now_ms: number): TickWindow {
  const today = occurrenceOn(businessDateOf(now_ms), 0);
  const yesterday = occurrenceOn(previousBusinessDate(now_ms), 0);
  return { minutes_now: Math.floor((now_ms - today.at_ms) / minuteMs), today, yesterday };
}

/** "2026-03-02" → "20260302": the day as it appears in run and transfer ids. */
export function compactDay(business_day: string): string {
  return business_day.replaceAll("-", "");
}
