// Plain-text tables for the terminal: a header row, a rule, right-aligned numbers.

/** Formats rows of cells under headers; the first column is left-aligned, the rest right-aligned. */
export function formatTable(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === "number" ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd();
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

/** Integers as they are (with thousands separators), fractions to 3 significant digits. */
export function formatNumber(x: number): string {
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? Math.round(x).toLocaleString("en-US") : x.toPrecision(3);
}
