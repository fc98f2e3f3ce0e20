/**
 * A D1 binding that counts the queries made through it (each statement of a batch counts),
 * so a reconciliation step or an invariants call can assert it stays within its per-invocation
 * budget.
 */
import { assert } from "../assert";

const unwrap = Symbol("unwrap");

export interface CountingD1 {
  d1: D1Database;
  queries(): number;
}

export function countingD1(inner: D1Database, budget: number, what = "reconciliation step"): CountingD1 {
  let count = 0;
  const spend = (n: number) => {
    count += n;
    assert(count <= budget, `${what} exceeded its D1 budget of ${budget} queries`);
  };
  const wrapStatement = (statement: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, property, receiver) {
        if (property === unwrap) return target;
        if (property === "bind") return (...values: unknown[]) => wrapStatement(target.bind(...values));
        if (property === "run" || property === "all" || property === "first" || property === "raw") {
          return (...args: unknown[]) => {
            spend(1);
            return (target[property] as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
  const d1 = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === "prepare") return (query: string) => wrapStatement(target.prepare(query));
      if (property === "batch") {
        return (statements: D1PreparedStatement[]) => {
          spend(statements.length);
          // The proxies stand in for real statements; D1 needs the originals.
          return target.batch(statements.map((statement) => (statement as unknown as { [unwrap]?: D1PreparedStatement })[unwrap] ?? statement));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  return { d1, queries: () => count };
}

