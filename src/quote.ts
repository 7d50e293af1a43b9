// Input shown back in messages.

/**
 * A piece of an input file as an error message may show it: quoted, control
 * characters escaped (a terminal would obey them), at most `max` characters.
 */
export function quoted(text: string, max = 60): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return `'${cut.replace(/[\u0000-\u001f\u007f-\u009f']/g, (c) => (c === "'" ? "\\'" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`))}'`;
}
