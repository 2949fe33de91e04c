import type { Writable } from 'node:stream';
import type { Cluster, Redis } from 'ioredis';

/**
 * Sends the commands a process gives one Redis connection within one event-loop turn as one
 * socket write.
 *
 * Without it every request's GET is its own write(2) on the Redis socket, and each of those
 * wakes Redis for one command, which then answers with its own write(2). On loopback and on
 * small machines that round of syscalls and wake-ups is the largest single cost of an L2 read
 * (docs/BENCHMARKS.md, issue 16). `hold()` corks the connection's socket on the turn's first
 * command and uncorks it in a `setImmediate`, which runs after every I/O callback of the turn
 * (every request that arrived together) has issued its command: Node then writes them with
 * one writev, Redis reads them in one go and answers them in one write.
 *
 * Cost: one immediate per turn that sends anything, none per command; a command waits at
 * most for the rest of its turn. Order is unchanged (one socket, FIFO), and so is failure:
 * a socket that closes while corked fails its queued commands as it would have anyway.
 *
 * On a Cluster every master's socket is corked (a command's node is ioredis' choice); the
 * ones the turn did not write to are uncorked with nothing to send.
 */
export class WriteCoalescer {
  private held: Writable[] = [];
  private readonly release = (): void => {
    const held = this.held;
    this.held = [];
    for (const stream of held) stream.uncork();
  };

  constructor(private readonly client: Redis | Cluster) {}

  /** Call before sending a command: its write joins the turn's one write. */
  hold(): void {
    if (this.held.length > 0) return;
    if (this.client.isCluster) {
      for (const node of (this.client as Cluster).nodes('master')) this.cork(node);
    } else {
      this.cork(this.client as Redis);
    }
    if (this.held.length > 0) setImmediate(this.release);
  }

  private cork(redis: Redis): void {
    // Only a ready connection writes; otherwise ioredis fails the command at once (no queue).
    const stream = redis.status === 'ready' ? (redis.stream as Writable | undefined) : undefined;
    if (stream === undefined || !stream.writable) return;
    stream.cork();
    this.held.push(stream);
  }
}
