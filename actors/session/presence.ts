/** What one connection says of its user. */
export type PresenceName = "online" | "away" | "dnd";

export const presenceNames: readonly PresenceName[] = ["online", "away", "dnd"];

/** The most available wins: online, then away, then do-not-disturb. */
const rank: Record<PresenceName, number> = { online: 3, away: 2, dnd: 1 };

/**
 * A user's presence from their connections': offline with none, else the most
 * available status among them, with the text of the connection that set it (the most
 * recent one on a tie).
 */
export function aggregatePresence(connections: readonly { presence: PresenceName; text: string; sinceMs: number }[]): { status: PresenceName | "offline"; text: string } {
  let best: { presence: PresenceName; text: string; sinceMs: number } | undefined;
  for (const c of connections) {
    if (best === undefined || rank[c.presence] > rank[best.presence] || (rank[c.presence] === rank[best.presence] && c.sinceMs > best.sinceMs)) best = c;
  }
  return best === undefined ? { status: "offline", text: "" } : { status: best.presence, text: best.text };
}
