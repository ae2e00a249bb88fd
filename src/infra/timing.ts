/** Waiting on a promise for a bounded time, leaving no timer behind (a pending timer delays exit). */

/** `p`'s value if it settles within `ms`, else undefined; a rejection also gives undefined. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.catch(() => undefined),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
