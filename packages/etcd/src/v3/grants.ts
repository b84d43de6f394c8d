/**
 * The etcd leases the v3 store's acquisitions write their keys with. Acquisitions that start
 * while a Grant is on its way share it (one Grant for a burst, as etcd's own group commit shares
 * an fsync): their keys then end together, 24 h after the grant, exactly as if granted one by
 * one. A Grant no key ends up on is revoked; `close()` waits for every Grant and revocation.
 */
import type { Clock } from "@flannel-sdk/core";
import type { EtcdV3Connection } from "./connection.js";
import type { V3LeaseDecoder } from "./decode.js";

/** A granted etcd lease: its ID and when it ends by the local clock. @internal */
export interface Granted {
  readonly id: bigint;
  readonly expiresAt: number;
}

/** A Grant shared by the acquisitions that started while it was on its way. */
interface SharedGrant {
  readonly promise: Promise<Granted>;
  /** Still joinable (the Grant has not answered yet). */
  open: boolean;
  /** Acquisitions holding it now. */
  holders: number;
  /** Keys written with it; -1 once revoked unused. */
  used: number;
}

/** One acquisition's hold on a shared Grant. @internal */
export interface GrantHold {
  /** The Grant, asked for on first call (again after a failed one). */
  get(): Promise<Granted>;
  /** Call once a key was written with it. */
  markUsed(): void;
  /** Lets go of the Grant (revoked when nobody wrote a key with it). */
  release(): void;
}

/** The Grants of one store. @internal */
export class GrantPool {
  readonly #connection: EtcdV3Connection;
  readonly #ttl: number;
  readonly #clock: Clock;
  readonly #decoder: V3LeaseDecoder;
  #open: SharedGrant | null = null;
  /** Every grant this store asked for that is not known to be revoked. */
  readonly #grants = new Set<SharedGrant>();
  /** Revocations of unused grants on their way. */
  readonly #revocations = new Set<Promise<void>>();

  constructor(connection: EtcdV3Connection, ttl: number, clock: Clock, decoder: V3LeaseDecoder) {
    this.#connection = connection;
    this.#ttl = ttl;
    this.#clock = clock;
    this.#decoder = decoder;
  }

  /** A hold for one acquisition. */
  hold(): GrantHold {
    let grant: SharedGrant | null = null;
    let used = false;
    return {
      get: () => {
        if (grant === null) {
          const joined = this.#join();
          grant = joined;
          // A failed grant is asked again by the next attempt.
          joined.promise.catch(() => {
            if (grant === joined) {
              grant = null;
              this.#leave(joined, false);
            }
          });
        }
        return grant.promise;
      },
      markUsed: () => {
        used = true;
      },
      release: () => {
        const held = grant;
        grant = null;
        if (held !== null) this.#leave(held, used);
      },
    };
  }

  /**
   * Revokes an etcd lease no key hangs on any more. One may still carry other keys (written by
   * a burst of acquisitions that shared a Grant): then it is left alone. Best effort.
   */
  async forget(id: bigint, signal?: AbortSignal): Promise<void> {
    if (id === 0n) return;
    try {
      const keys = await this.#connection.leaseKeys(id, signal);
      if (keys === null || keys.length > 0) return;
      this.#decoder.forget(id);
      await this.#connection.revoke(id);
    } catch {
      // it expires by itself
    }
  }

  /** Revokes an etcd lease known to carry no key of ours any more. Best effort. */
  async revoke(id: bigint): Promise<void> {
    this.#decoder.forget(id);
    await this.#connection.revoke(id).catch(() => undefined);
  }

  /** Resolves once every Grant on its way answered and every unused one is revoked. */
  async settle(): Promise<void> {
    // One cut off would leave a lease whose ID nobody knows.
    await Promise.allSettled([...this.#grants].map((g) => g.promise));
    await Promise.allSettled([...this.#revocations]);
  }

  #join(): SharedGrant {
    let shared = this.#open;
    if (shared === null) {
      const created: SharedGrant = {
        promise: (async () => {
          const { id, ttl } = await this.#connection.grant(this.#ttl);
          const expiresAt = this.#clock.now() + ttl * 1000;
          this.#decoder.timed(id, expiresAt);
          return { id, expiresAt };
        })(),
        open: true,
        holders: 0,
        used: 0,
      };
      this.#grants.add(created);
      const close = () => {
        created.open = false;
        if (this.#open === created) this.#open = null;
        this.#maybeRevoke(created);
      };
      created.promise.then(close, close);
      this.#open = created;
      shared = created;
    }
    shared.holders++;
    return shared;
  }

  #leave(shared: SharedGrant, used: boolean): void {
    shared.holders--;
    if (used) shared.used++;
    this.#maybeRevoke(shared);
  }

  #maybeRevoke(shared: SharedGrant): void {
    if (shared.open || shared.holders > 0) return;
    // Settled and left by every acquisition: attached to keys, or revoked now (once).
    this.#grants.delete(shared);
    if (shared.used !== 0) return;
    shared.used = -1;
    const revocation = shared.promise
      .then(({ id }) => {
        this.#decoder.forget(id);
        return this.#connection.revoke(id);
      })
      .catch(() => undefined);
    this.#revocations.add(revocation);
    void revocation.then(() => this.#revocations.delete(revocation));
  }
}
