// The events the messages domain publishes (see ../events.ts), with what they carry.

/** A direct message was stored; `recipientIds` are the conversation's other open participants. */
export interface MessageSent {
  conversationId: string;
  messageId: string;
  authorId: string;
  recipientIds: string[];
}

declare module '../events.ts' {
  interface DomainEventMap {
    'message.sent': MessageSent;
  }
}
