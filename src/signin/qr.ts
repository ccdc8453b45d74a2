/**
 * Associating an authenticator app at MFA_SETUP: the otpauth URI of the secret Cognito gave, and
 * the same URI as a QR code drawn with half-block characters (two rows of modules per line), light
 * on dark as a phone camera reads it from a terminal.
 * https://github.com/google/google-authenticator/wiki/Key-Uri-Format
 */
import { generate } from "lean-qr";

/** `otpauth://totp/<issuer>:<user>?secret=...&issuer=...` for a TOTP secret (base32, as Cognito gives it). */
export function otpauthUri(secret: string, username: string, userPoolId: string): string {
  const issuer = `Cognito ${userPoolId}`;
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(username)}`;
  return `otpauth://totp/${label}?secret=${encodeURIComponent(secret)}&issuer=${encodeURIComponent(issuer)}`;
}

/** A QR code of `text` for a terminal, with the quiet zone the standard asks (4 modules). */
export function qrText(text: string): string {
  const code = generate(text);
  const pad = 4;
  const lines: string[] = [];
  // `get` is false outside the code, which draws the quiet zone. A set module is dark.
  for (let y = -pad; y < code.size + pad; y += 2) {
    let line = "";
    for (let x = -pad; x < code.size + pad; x++) {
      const top = code.get(x, y);
      const bottom = code.get(x, y + 1);
      // Light modules are drawn (the terminal's background is taken as dark).
      line += top ? (bottom ? " " : "▄") : bottom ? "▀" : "█";
    }
    lines.push(line);
  }
  return lines.join("\n");
}
