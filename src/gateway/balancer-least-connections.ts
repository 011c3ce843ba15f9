/**
 * Least connections: the healthy member serving the fewest sessions now.
 * The fairest under uneven session lengths (the seed's advice for high
 * availability).
 */
import type { Balancer, MemberTable } from './balancer.js';

/**
 * Picks the healthy member with the lowest `active` count in O(1): the
 * {@link MemberTable} keeps members bucketed by count, so this is the head
 * of the lowest bucket. Ties go to the member that reached that count first,
 * which, as the pool counts a session the moment its member is chosen,
 * rotates new sessions over equally loaded members.
 */
export class LeastConnectionsBalancer implements Balancer {
  /** Always `'LeastConnections'`. */
  readonly strategy = 'LeastConnections' as const;

  /** @param table the members to choose from */
  constructor(private readonly table: MemberTable) {}

  /** The least loaded healthy member, or -1 when none is healthy. */
  select(): number {
    return this.table.leastActive();
  }
}
