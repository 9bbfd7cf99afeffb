// Direct messages served apart: their service interface (MessagesService) over the internal
// contract internal/messages.openapi.yaml, whose generated operations type both sides. `agree`
// below fails the build when the interface and the contract disagree, in either direction.
import type { operations } from '../../generated/internal/messages.d.ts';
import type { Conversation, Marker, Message, MessagesService, StreamPosition } from '../services/messages/index.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import type { RemoteClient } from './client.ts';
import type { InternalBinding } from './server.ts';
import { agree, type ArgsOf, type Wire } from './wire.ts';

agree<MessagesService, operations>(true);

/** The messages domain's internal contract. */
export const messagesContract = new URL('../../internal/messages.openapi.yaml', import.meta.url);

type Op<K extends keyof operations> = ArgsOf<operations[K]>;

const message = (wire: Wire<Message>): Message => ({ ...wire, createdAt: new Date(wire.createdAt) });
const conversation = (wire: Wire<Conversation>): Conversation => ({
  ...wire,
  lastMessage: wire.lastMessage === null ? null : message(wire.lastMessage),
  createdAt: new Date(wire.createdAt),
  lastActivityAt: new Date(wire.lastActivityAt),
});
const position = (wire: Wire<StreamPosition>): StreamPosition => ({ txid: BigInt(wire.txid), seq: BigInt(wire.seq) });
const wirePosition = (at: StreamPosition): Wire<StreamPosition> => ({ txid: at.txid.toString(), seq: at.seq.toString() });

/** MessagesService, by calling a domain server (MESSAGES_SERVICE_URL). */
export function messagesStub(client: RemoteClient<operations>): MessagesService {
  return {
    async start(caller, input, uow) {
      const started = await client.call('start', [caller, input], { unitOfWork: uow });
      return { conversation: conversation(started.conversation), created: started.created };
    },
    async get(caller, conversationId) {
      return conversation(await client.call('get', [caller, conversationId]));
    },
    async list(caller, request) {
      const page = await client.call('list', [caller, request]);
      return { items: page.items.map(conversation), nextCursor: page.nextCursor };
    },
    async listMessages(caller, conversationId, request) {
      const page = await client.call('listMessages', [caller, conversationId, request]);
      return { items: page.items.map(message), nextCursor: page.nextCursor };
    },
    async getMessage(caller, conversationId, messageId) {
      return message(await client.call('getMessage', [caller, conversationId, messageId]));
    },
    async send(caller, conversationId, input, uow) {
      return message(await client.call('send', [caller, conversationId, input], { unitOfWork: uow }));
    },
    async deleteMessage(caller, conversationId, messageId) {
      await client.call('deleteMessage', [caller, conversationId, messageId]);
    },
    async marker(caller, conversationId): Promise<Marker> {
      return client.call('marker', [caller, conversationId]);
    },
    async moveMarker(caller, conversationId, expectedVersion, lastReadMessageId) {
      return client.call('moveMarker', [caller, conversationId, expectedVersion ?? null, lastReadMessageId]);
    },
    async messagesPermissions(caller, conversationId) {
      return client.call('messagesPermissions', [caller, conversationId]);
    },
    async messagePermissions(caller, conversationId, messageId) {
      return client.call('messagePermissions', [caller, conversationId, messageId]);
    },
    async forgetAccount(accountId) {
      await client.call('forgetAccount', [accountId]);
    },
    async streamSince(accountId, after, limit) {
      const batch = await client.call('streamSince', [accountId, wirePosition(after), limit]);
      return { events: batch.events.map((event) => ({ position: position(event.position), data: message(event.data) })), pending: batch.pending };
    },
    async streamTail(accountId) {
      return position(await client.call('streamTail', [accountId]));
    },
  };
}

/** The internal API over the messages service of this process (SERVE_DOMAINS=messages). */
export function messagesBinding(messages: MessagesService): InternalBinding {
  const operations: { [K in keyof operations]: { keyed: boolean; run(args: Op<K>, unitOfWork?: UnitOfWork): Promise<unknown> } } = {
    start: { keyed: true, run: ([caller, input], uow) => messages.start(caller, input, uow) },
    get: { keyed: false, run: ([caller, conversationId]) => messages.get(caller, conversationId) },
    list: { keyed: false, run: ([caller, request]) => messages.list(caller, request) },
    listMessages: { keyed: false, run: ([caller, conversationId, request]) => messages.listMessages(caller, conversationId, request) },
    getMessage: { keyed: false, run: ([caller, conversationId, messageId]) => messages.getMessage(caller, conversationId, messageId) },
    send: { keyed: true, run: ([caller, conversationId, input], uow) => messages.send(caller, conversationId, input, uow) },
    deleteMessage: { keyed: false, run: ([caller, conversationId, messageId]) => messages.deleteMessage(caller, conversationId, messageId) },
    marker: { keyed: false, run: ([caller, conversationId]) => messages.marker(caller, conversationId) },
    moveMarker: {
      keyed: false,
      run: ([caller, conversationId, expectedVersion, lastReadMessageId]) => messages.moveMarker(caller, conversationId, expectedVersion ?? undefined, lastReadMessageId),
    },
    messagesPermissions: { keyed: false, run: ([caller, conversationId]) => messages.messagesPermissions(caller, conversationId) },
    messagePermissions: { keyed: false, run: ([caller, conversationId, messageId]) => messages.messagePermissions(caller, conversationId, messageId) },
    forgetAccount: { keyed: false, run: ([accountId]) => messages.forgetAccount(accountId) },
    streamSince: {
      keyed: false,
      run: async ([accountId, after, limit]) => {
        const batch = await messages.streamSince(accountId, position(after), limit);
        return { events: batch.events.map((event) => ({ position: wirePosition(event.position), data: event.data })), pending: batch.pending };
      },
    },
    streamTail: { keyed: false, run: async ([accountId]) => wirePosition(await messages.streamTail(accountId)) },
  };
  return { target: 'messages', contract: messagesContract, operations };
}
