// The events the messages domain publishes (see ../events.ts), with what they carry.
import type { UnitOfWork } from '../../persistence/sql.ts';

/** A direct message was stored; `recipientIds` are the conversation's other open participants. */
export interface MessageSent {
  conversationId: string;
  messageId: string;
  authorId: string;
  recipientIds: string[];
  /**
   * The transaction the message was written in, when the request has one (a keyed request's):
   * a listener that writes joins it, so that its write commits with the message, and takes no
   * second transaction while this one holds a connection (enough of those at once, each
   * waiting for another, would take every transaction's turn and wait forever).
   */
  unitOfWork?: UnitOfWork;
}

declare module '../events.ts' {
  interface DomainEventMap {
    'message.sent': MessageSent;
  }
}
