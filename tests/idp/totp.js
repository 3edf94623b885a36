// RFC 6238 TOTP (HMAC-SHA-1, 30 s steps, 6 digits) for the optional
// IDP_TOTP_SECRET. The fixed IDP_OTP_CODE stays accepted either way.

import { createHmac } from 'node:crypto';

import { sameSecret } from './accounts.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** base32Decode decodes RFC 4648 base32 (case, spaces and padding ignored). */
export function base32Decode(text) {
  const clean = String(text).toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const v = B32.indexOf(ch);
    if (v < 0) throw new Error('IDP_TOTP_SECRET is not base32');
    value = (value << 5) | v; // eslint-disable-line no-bitwise
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff); // eslint-disable-line no-bitwise
    }
  }
  return Buffer.from(out);
}

/** hotp is RFC 4226 section 5.3: dynamic truncation of HMAC-SHA-1(counter). */
export function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f; // eslint-disable-line no-bitwise
  const bin = mac.readUInt32BE(off) & 0x7fffffff; // eslint-disable-line no-bitwise
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** totpValid accepts the code for the current 30 s step or one either side. */
export function totpValid(key, code, nowMs = Date.now()) {
  const step = Math.floor(nowMs / 1000 / 30);
  let ok = false;
  for (const c of [step - 1, step, step + 1]) {
    if (sameSecret(hotp(key, c), code)) ok = true;
  }
  return ok;
}
