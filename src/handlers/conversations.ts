// operationIds tagged `conversations`: direct messages (the messages domain).
import type { Conversation, Marker, Message, MessagesService, Participant } from '../services/messages/index.ts';
import { signedIn } from '../services/accounts/index.ts';
import { DEFAULT_LIMIT } from './paging.ts';
import { etag } from './conditional.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers, Schemas } from './operations.ts';
import { isoTime } from './iso-time.ts';

function participantView(p: Participant): Schemas['ConversationParticipant'] {
  return { id: p.id, handle: p.handle, displayName: p.displayName, closed: p.closed };
}

export function messageView(m: Message): Schemas['Message'] {
  return { id: m.id, conversationId: m.conversationId, authorId: m.authorId, author: participantView(m.author), text: m.text, createdAt: isoTime(m.createdAt) };
}

function markerView(m: Marker): Schemas['ConversationMarker'] {
  return { conversationId: m.conversationId, lastReadMessageId: m.lastReadMessageId, unreadCount: m.unreadCount, version: m.version };
}

function conversationView(c: Conversation): Schemas['Conversation'] {
  return {
    id: c.id,
    participants: c.participants.map(participantView),
    lastMessage: c.lastMessage ? messageView(c.lastMessage) : null,
    unreadCount: c.marker.unreadCount,
    marker: markerView(c.marker),
    createdAt: isoTime(c.createdAt),
    lastActivityAt: isoTime(c.lastActivityAt),
  };
}

const page = (query: { limit?: number; cursor?: string; page?: number }) => ({ limit: query.limit ?? DEFAULT_LIMIT, cursor: query.cursor, page: query.page });

export function conversationsHandlers(messages: MessagesService) {
  return {
    async startConversation({ body, caller, unitOfWork }) {
      const { conversation, created } = await messages.start(signedIn(caller), body, unitOfWork);
      if (!created) return { status: 200, body: conversationView(conversation) };
      return { status: 201, body: conversationView(conversation), headers: { location: `/v1/conversations/${conversation.id}` } };
    },

    async listConversations({ query, caller }) {
      const found = await messages.list(signedIn(caller), page(query));
      return { status: 200, body: { data: found.items.map(conversationView), nextCursor: found.nextCursor } };
    },

    async getConversation({ path, caller }) {
      return { status: 200, body: conversationView(await messages.get(signedIn(caller), path.conversationId)) };
    },

    async listMessages({ path, query, caller }) {
      const found = await messages.listMessages(signedIn(caller), path.conversationId, page(query));
      return { status: 200, body: { data: found.items.map(messageView), nextCursor: found.nextCursor } };
    },

    async sendMessage({ path, body, caller, unitOfWork }) {
      const message = await messages.send(signedIn(caller), path.conversationId, body, unitOfWork);
      return { status: 201, body: messageView(message), headers: { location: `/v1/conversations/${message.conversationId}/messages/${message.id}` } };
    },

    async getMessage({ path, caller }) {
      return { status: 200, body: messageView(await messages.getMessage(signedIn(caller), path.conversationId, path.messageId)) };
    },

    async deleteMessage({ path, caller }) {
      await messages.deleteMessage(signedIn(caller), path.conversationId, path.messageId);
      return { status: 204 };
    },

    async getConversationMarker({ path, caller }) {
      const marker = await messages.marker(signedIn(caller), path.conversationId);
      return { status: 200, body: markerView(marker), headers: { etag: etag(marker.version) } };
    },

    async updateConversationMarker({ path, expectedVersion, body, caller }) {
      const marker = await messages.moveMarker(signedIn(caller), path.conversationId, expectedVersion, body.lastReadMessageId);
      return { status: 200, body: markerView(marker), headers: { etag: etag(marker.version) } };
    },
  } satisfies Partial<Handlers>;
}

/** Who may do what to the conversations resources: only their participants know they exist. */
export function conversationsAllowedMethods(messages: MessagesService) {
  return permissions({
    async '/conversations'() {
      return ['GET', 'POST'];
    },
    async '/conversations/{conversationId}'({ path, caller }) {
      await messages.get(signedIn(caller), path.conversationId);
      return ['GET'];
    },
    async '/conversations/{conversationId}/messages'({ path, caller }) {
      const may = await messages.messagesPermissions(signedIn(caller), path.conversationId);
      return ['GET', ...when(may.send, 'POST')];
    },
    async '/conversations/{conversationId}/messages/{messageId}'({ path, caller }) {
      const may = await messages.messagePermissions(signedIn(caller), path.conversationId, path.messageId);
      return ['GET', ...when(may.delete, 'DELETE')];
    },
    async '/conversations/{conversationId}/marker'({ path, caller }) {
      await messages.marker(signedIn(caller), path.conversationId);
      return ['GET', 'PUT'];
    },
  });
}
