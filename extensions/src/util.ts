// Small pure helpers (no DOM, no JupyterLab imports).

/**
 * Parse a price typed in currency units ("9.99", "10", "0.5") into integer
 * minor units by string manipulation only, never through floating point.
 *
 * Returns the amount, or an error message for the person.
 */
export function parsePriceMinor(
  input: string
): { ok: true; value: number } | { ok: false; error: string } {
  const text = input.trim().replace(/^\$/, '').trim();
  if (text === '') {
    return {
      ok: false,
      error: 'Enter a price, for example "9.99", or "0" for free.'
    };
  }
  if (text.startsWith('-')) {
    return { ok: false, error: 'The price cannot be negative.' };
  }
  const match = /^(\d*)(?:\.(\d*))?$/.exec(text);
  if (!match || (match[1] === '' && (match[2] ?? '') === '')) {
    return {
      ok: false,
      error: `"${input.trim()}" is not a price; write it like "9.99" or "10".`
    };
  }
  const whole = match[1] === '' ? '0' : match[1];
  const fraction = match[2] ?? '';
  if (fraction.length > 2) {
    return {
      ok: false,
      error: 'The price can have at most 2 decimal places (cents).'
    };
  }
  const digits = (whole + fraction.padEnd(2, '0')).replace(/^0+(?=\d)/, '');
  if (digits.length > 12) {
    return { ok: false, error: 'The price is too large.' };
  }
  return { ok: true, value: parseInt(digits, 10) };
}

/** Format integer minor units as a currency-unit string ("999" → "9.99"). */
export function formatMinor(amountMinor: number): string {
  const sign = amountMinor < 0 ? '-' : '';
  const abs = String(Math.abs(Math.trunc(amountMinor))).padStart(3, '0');
  return `${sign}${abs.slice(0, -2)}.${abs.slice(-2)}`;
}

/** The Python variable name used for a listing slug ("me/My-RSI" → "my_rsi"). */
export function variableName(slug: string): string {
  const slash = slug.lastIndexOf('/');
  const listing = slash >= 0 ? slug.slice(slash + 1) : slug;
  let name = listing.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (name === '') {
    name = 'listing';
  }
  if (/^[0-9]/.test(name)) {
    name = '_' + name;
  }
  return name;
}

/** The source of the code cell that loads a listing. */
export function useSnippet(slug: string): string {
  const name = variableName(slug);
  return `import alphabook as ab\n\n${name} = ab.use(${JSON.stringify(slug)})\n${name}`;
}

/** Create an element with optional class and text content (never HTML: text is text). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
