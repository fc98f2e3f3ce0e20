/** Small pieces every console view uses: amounts, instants, notices, pagination, hidden keys. */
import type { Child } from "hono/jsx";
import type { Problem } from "./api";
import { formatAmount, formatBuenosAires } from "./format";

export function Money(props: { amount: number | null | undefined; currency?: string }) {
  if (props.amount === null || props.amount === undefined) return <span class="muted">—</span>;
  return <span class="money">{formatAmount(props.amount, props.currency ?? "ARS")}</span>;
}

/** An instant in Buenos Aires time; the exact UTC instant in the markup and on hover. */
export function When(props: { at: string | null | undefined }) {
  if (!props.at) return <span class="muted">—</span>;
  return (
    <time datetime={props.at} title={`${props.at} (UTC)`}>
      {formatBuenosAires(props.at)}
    </time>
  );
}

export function Notice(props: { kind: "ok" | "error"; children: Child }) {
  return (
    <div class={`notice ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

export function ProblemNotice(props: { problem: Problem }) {
  const { problem } = props;
  return (
    <Notice kind="error">
      <p>
        <strong>
          {problem.status >= 500 ? "Failed" : "Refused"} ({problem.code}):
        </strong>{" "}
        {problem.detail}
      </p>
      {problem.errors.length > 0 && (
        <ul>
          {problem.errors.map((error) => (
            <li>
              <code>{error.path}</code>: {error.message}
            </li>
          ))}
        </ul>
      )}
    </Notice>
  );
}

/** Newest-first cursor pagination: a link to the next page, and back to the first. */
export function Pager(props: { view: string; query?: Record<string, string | undefined>; cursor?: string | undefined; nextCursor: string | null }) {
  const link = (cursor?: string) => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(props.query ?? {})) if (value) params.set(name, value);
    if (cursor) params.set("cursor", cursor);
    const search = params.toString();
    return `#${props.view}${search ? `?${search}` : ""}`;
  };
  if (!props.cursor && !props.nextCursor) return null;
  return (
    <nav class="pager" aria-label="Pages">
      {props.cursor && <a href={link()}>First page</a>}
      {props.nextCursor && <a href={link(props.nextCursor)}>Next page</a>}
    </nav>
  );
}

/**
 * Each rendered form carries its own Idempotency-Key: a double click, or a retry after a lost
 * answer, repeats the same request instead of doing it twice.
 */
export function IdempotencyKey() {
  return <input type="hidden" name="idempotency_key" value={crypto.randomUUID()} />;
}

/** Where the browser's address bar should point once this fragment is shown (e.g. a new run). */
export function ViewRoot(props: { view: string; title: string; refreshMs?: number; children: Child }) {
  return (
    <section class="view" data-view={props.view} data-refresh-ms={props.refreshMs} aria-labelledby="view-title">
      <h2 id="view-title" tabindex={-1}>
        {props.title}
      </h2>
      {props.children}
    </section>
  );
}
