/** The schedule arithmetic of sweeps (src/sweeps/schedule.ts): Buenos Aires days, not UTC days. */
import { describe, expect, it } from "vitest";
import { businessDayStart, latestOccurrence, minutesOfScheduleTime, scheduleTimePattern, tickWindow } from "../../src/sweeps/schedule";

const at = (iso: string) => Date.parse(iso);

describe("schedule times", () => {
  it("accepts 00:00 to 23:59 and nothing else", () => {
    for (const time of ["00:00", "09:05", "22:00", "23:59"]) expect(scheduleTimePattern.test(time)).toBe(true);
    for (const time of ["24:00", "23:60", "7:00", "07:0", "07:00:00", " 07:00", "07:00 ", "ab:cd", "", "-1:00", "07.00"]) expect(scheduleTimePattern.test(time)).toBe(false);
    expect(minutesOfScheduleTime("00:00")).toBe(0);
    expect(minutesOfScheduleTime("22:00")).toBe(1320);
    expect(minutesOfScheduleTime("23:59")).toBe(1439);
  });

  it("a Buenos Aires day starts at 03:00 UTC", () => {
    expect(businessDayStart("2027-01-10")).toBe(at("2027-01-10T03:00:00Z"));
  });
});

describe("the latest occurrence", () => {
  it("is today's once the time has come in Buenos Aires, yesterday's before", () => {
    const ten = minutesOfScheduleTime("10:00");
    expect(latestOccurrence(ten, at("2027-01-10T12:59:59.999Z"))).toEqual({ business_day: "2027-01-09", at_ms: at("2027-01-09T13:00:00Z") }); // 09:59:59.999 in BA
    expect(latestOccurrence(ten, at("2027-01-10T13:00:00Z"))).toEqual({ business_day: "2027-01-10", at_ms: at("2027-01-10T13:00:00Z") }); // exactly 10:00 in BA
    expect(latestOccurrence(ten, at("2027-01-10T20:00:00Z"))).toEqual({ business_day: "2027-01-10", at_ms: at("2027-01-10T13:00:00Z") });
  });

  it("follows the Buenos Aires day, not the UTC day, between 00:00 and 03:00 UTC", () => {
    // 01:30 UTC on the 11th is 22:30 on the 10th in Buenos Aires.
    const now = at("2027-01-11T01:30:00Z");
    expect(latestOccurrence(minutesOfScheduleTime("22:00"), now)).toEqual({ business_day: "2027-01-10", at_ms: at("2027-01-11T01:00:00Z") });
    expect(latestOccurrence(minutesOfScheduleTime("23:00"), now)).toEqual({ business_day: "2027-01-09", at_ms: at("2027-01-10T02:00:00Z") });
    // A UTC-midnight reading would say the 11th's 00:30 (03:30 UTC) had not come, and the 11th's date.
    expect(latestOccurrence(minutesOfScheduleTime("00:30"), now)).toEqual({ business_day: "2027-01-10", at_ms: at("2027-01-10T03:30:00Z") });
  });

  it("a 23:58 sweep's occurrence is still the day before's at the 00:00 tick", () => {
    expect(latestOccurrence(minutesOfScheduleTime("23:58"), at("2027-01-11T03:00:00Z"))).toEqual({ business_day: "2027-01-10", at_ms: at("2027-01-11T02:58:00Z") });
  });

  it("the tick window the cron's SQL uses agrees with latestOccurrence for every minute of the day", () => {
    for (const now of [at("2027-01-11T01:30:00Z"), at("2027-01-11T03:00:00Z"), at("2027-01-11T02:59:59.999Z"), at("2027-03-01T14:07:31Z")]) {
      const window = tickWindow(now);
      for (let minutes = 0; minutes < 1440; minutes++) {
        const base = minutes <= window.minutes_now ? window.today : window.yesterday;
        expect({ business_day: base.business_day, at_ms: base.at_ms + minutes * 60_000 }).toEqual(latestOccurrence(minutes, now));
      }
    }
  });
});
