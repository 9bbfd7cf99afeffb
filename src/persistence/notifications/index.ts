// The notifications domain's persistence API: rows in, rows out. No business rules here.
export { NotificationsStore } from './store.ts';
export type { GroupRow, ListQuery, MarkerMove, MarkerRow, NewNotificationRow, NotificationRow, NotificationType } from './store.ts';
export { notificationsEntities } from './entities.ts';
