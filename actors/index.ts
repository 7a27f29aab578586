/**
 * Domain actors: user session, topic, agent, queue, conversation, bot. They see only
 * the narrow actor context of `runtime/` and do no I/O of their own (STYLE.md §7).
 * The first of them arrive with the messaging core.
 */
export {};
