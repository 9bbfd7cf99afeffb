// Compile-time tests, run by `npm run typecheck`: a service interface and its internal contract's
// generated operations must agree in both directions (src/remote/wire.ts, `agree`). Each
// expect-error directive below fails the type check if the disagreement it shows stops being caught.
import type { operations as accountsOperations } from '../../generated/internal/accounts.d.ts';
import type { operations as notificationsOperations } from '../../generated/internal/notifications.d.ts';
import type { operations } from '../../generated/internal/social.d.ts';
import { agree } from '../../src/remote/wire.ts';
import type { AccountSummary, AccountsService, SessionsService } from '../../src/services/accounts/index.ts';
import type { operations as channelsOperations } from '../../generated/internal/channels.d.ts';
import type { operations as messagesOperations } from '../../generated/internal/messages.d.ts';
import type { operations as postsOperations } from '../../generated/internal/posts.d.ts';
import type { operations as timelinesOperations } from '../../generated/internal/timelines.d.ts';
import type { MessageSent, NotificationsService } from '../../src/services/notifications/index.ts';
import type { Channel, ChannelsService, NewChannel } from '../../src/services/channels/index.ts';
import type { Message, MessagesService, NewMessage } from '../../src/services/messages/index.ts';
import type { NewPost, Post, PostsService } from '../../src/services/posts/index.ts';
import type { TimelinesCalls, TimelinesService } from '../../src/services/timelines/index.ts';
import type { operations as streamOperations } from '../../generated/internal/stream.d.ts';
import type { StreamOperations } from '../../src/services/stream/index.ts';
import type { SocialService } from '../../src/services/social/index.ts';
import type { UnitOfWork } from '../../src/services/unit-of-work.ts';

agree<SocialService, operations>(true);

// @ts-expect-error a method the contract has no operation for
agree<SocialService & { blockAccount(accountId: string): Promise<void> }, operations>(true);

// @ts-expect-error an operation the interface has no method for
agree<Omit<SocialService, 'forgetAccount'>, operations>(true);

// @ts-expect-error an argument's type changed on one side only
agree<Omit<SocialService, 'friendIdsOf'> & { friendIdsOf(accountId: number): Promise<string[]> }, operations>(true);

// @ts-expect-error a result's type changed on one side only
agree<Omit<SocialService, 'friendIdsOf'> & { friendIdsOf(accountId: string): Promise<number[]> }, operations>(true);

// @ts-expect-error a write that takes a unit of work must be x-idempotent in the contract, and the other way round
agree<Omit<SocialService, 'unfriend'> & { unfriend(caller: { accountId: string; sessionId: string }, accountId: string, friendId: string, unitOfWork?: UnitOfWork): Promise<void> }, operations>(true);

// @ts-expect-error operations differing from the interface (a property dropped from a result)
agree<SocialService, Omit<operations, 'getFriend'> & { getFriend: Omit<operations['getFriend'], 'responses'> & { responses: { 200: { content: { 'application/json': { since: string } } } } } }>(true);

// The notifications domain: positions are bigints in the service and strings on the wire, an
// absent optional argument is a null, a result's undefined property an absent one.
agree<NotificationsService, notificationsOperations>(true);

// @ts-expect-error a bigint does not cross as a number
agree<Omit<NotificationsService, 'streamTail'> & { streamTail(recipientId: string): Promise<{ txid: number; seq: number }> }, notificationsOperations>(true);

// @ts-expect-error an argument that may be undefined crosses as a null, which the contract must allow
agree<NotificationsService, Omit<notificationsOperations, 'moveMarker'> & { moveMarker: Omit<notificationsOperations['moveMarker'], 'requestBody'> & { requestBody: { content: { 'application/json': { args: [{ accountId: string; sessionId: string }, string, number] } } } } }>(true);

// @ts-expect-error the consumers join the job's unit of work, so they must be x-idempotent
agree<Omit<NotificationsService, 'onMessageSent'> & { onMessageSent(event: MessageSent): Promise<void> }, notificationsOperations>(true);

// The accounts domain: both its service interfaces against one contract; maps cross as entries.
agree<AccountsService & SessionsService, accountsOperations>(true);

// @ts-expect-error a map does not cross as a record
agree<Omit<AccountsService, 'summaries'> & SessionsService & { summaries(ids: Iterable<string>): Promise<Record<string, AccountSummary>> }, accountsOperations>(true);

// @ts-expect-error the contract must have an operation for each method of both interfaces
agree<AccountsService, accountsOperations>(true);

// The channels domain: a set crosses as an array, an argument that may be undefined as null.
agree<ChannelsService, channelsOperations>(true);

// @ts-expect-error a set's members changed type on one side only
agree<Omit<ChannelsService, 'whoCanSee'> & { whoCanSee(channelId: string, accountIds: readonly string[]): Promise<Set<number>> }, channelsOperations>(true);

// @ts-expect-error an argument that may be undefined must be nullable in the contract
agree<Omit<ChannelsService, 'memberIds'> & { memberIds(channelId: string, limit: number | undefined): Promise<string[]> }, channelsOperations>(true);

// @ts-expect-error a keyed write (create takes a unit of work) whose operation lost x-idempotent
agree<Omit<ChannelsService, 'create'> & { create(caller: { accountId: string; sessionId: string }, input: NewChannel): Promise<Channel> }, channelsOperations>(true);

// The messages domain: the live stream's big integers cross as decimal strings.
agree<MessagesService, messagesOperations>(true);

// @ts-expect-error a position that would cross as numbers (JSON numbers lose 64-bit precision)
agree<Omit<MessagesService, 'streamTail'> & { streamTail(accountId: string): Promise<{ txid: number; seq: number }> }, messagesOperations>(true);

// @ts-expect-error a send that no longer takes a unit of work, while its operation is still x-idempotent
agree<Omit<MessagesService, 'send'> & { send(caller: { accountId: string; sessionId: string }, conversationId: string, input: NewMessage): Promise<Message> }, messagesOperations>(true);

// The posts domain: a post whose channel may be null, an expected version that may be undefined.
agree<PostsService, postsOperations>(true);

// @ts-expect-error a general post's channel is null, not absent: the contract must say so
agree<Omit<PostsService, 'get'> & { get(caller: null, postId: string): Promise<Omit<Post, 'channelId'> & { channelId: string }> }, postsOperations>(true);

// @ts-expect-error a keyed publish (it takes a unit of work) whose operation lost x-idempotent
agree<Omit<PostsService, 'publish'> & { publish(caller: { accountId: string; sessionId: string }, input: NewPost): Promise<Post> }, postsOperations>(true);

// The timelines domain: its calls cross the wire; the fan-out's loop (startFanOut) is no call.
agree<TimelinesCalls, timelinesOperations>(true);

// @ts-expect-error the whole service, loop included, has a method without an operation
agree<TimelinesService, timelinesOperations>(true);

// @ts-expect-error the friendships' consumer must stay keyed (it joins the job's unit of work)
agree<Omit<TimelinesCalls, 'onFriendRequestAccepted'> & { onFriendRequestAccepted(event: { accountId: string; friendId: string }): Promise<void> }, timelinesOperations>(true);

// The stream domain: `open` answers a stream (NDJSON lines), its items checked against the lines' schema.
agree<StreamOperations, streamOperations>(true);

// @ts-expect-error a stream whose events lost their id on one side only
agree<{ open(caller: { accountId: string; sessionId: string }, lastEventId: string | undefined): Promise<AsyncIterator<{ event: string; data?: unknown }>> }, streamOperations>(true);

// @ts-expect-error an open that answers one value where the contract answers a stream
agree<{ open(caller: { accountId: string; sessionId: string }, lastEventId: string | undefined): Promise<{ id: string; event: string; data?: unknown }> }, streamOperations>(true);
