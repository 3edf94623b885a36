// The fixed development users and the account lookup oidc-provider calls.

import { createHash, timingSafeEqual } from 'node:crypto';

/** USERS are the development accounts; their passwords are public on purpose. */
export const USERS = {
  alice: {
    password: 'alice-password',
    email: 'alice@example.test',
    name: 'Alice Admin',
    groups: ['staff', 'admins'],
  },
  bob: {
    password: 'bob-password',
    email: 'bob@example.test',
    name: 'Bob Staff',
    groups: ['staff'],
  },
};

// sameSecret compares two strings in constant time for their common length
// (hashing first makes the lengths equal).
export function sameSecret(a, b) {
  const ha = createHash('sha256').update(String(a)).digest();
  const hb = createHash('sha256').update(String(b)).digest();
  return timingSafeEqual(ha, hb);
}

/** checkPassword returns the account id when the pair is valid, else undefined. */
export function checkPassword(username, password) {
  const id = String(username || '').trim();
  const user = Object.prototype.hasOwnProperty.call(USERS, id) ? USERS[id] : undefined;
  // Compare even for unknown users so timing does not reveal which exist.
  const ok = sameSecret(password || '', user ? user.password : '\u0000unknown');
  return user && ok ? id : undefined;
}

/** findAccount is oidc-provider's `findAccount` hook. */
export async function findAccount(ctx, id) {
  const user = Object.prototype.hasOwnProperty.call(USERS, id) ? USERS[id] : undefined;
  if (!user) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: user.email,
        email_verified: true,
        name: user.name,
        preferred_username: id,
        groups: [...user.groups],
      };
    },
  };
}
