import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Herald's custom search attributes; registered on the embedded server at start. */
export const HeraldTenant = defineSearchAttributeKey('HeraldTenant', SearchAttributeType.KEYWORD);
export const HeraldEventType = defineSearchAttributeKey('HeraldEventType', SearchAttributeType.KEYWORD);
export const HeraldEndpointId = defineSearchAttributeKey('HeraldEndpointId', SearchAttributeType.KEYWORD);
export const HeraldStatus = defineSearchAttributeKey('HeraldStatus', SearchAttributeType.KEYWORD);
export const HeraldAttempts = defineSearchAttributeKey('HeraldAttempts', SearchAttributeType.INT);

export const heraldSearchAttributes = [HeraldTenant, HeraldEventType, HeraldEndpointId, HeraldStatus, HeraldAttempts];

/** A delivery's search attributes when its run starts. */
export function deliverySearchAttributes(tenant: string, eventType: string, endpointId: string, attempts: number) {
  return [
    { key: HeraldTenant, value: tenant },
    { key: HeraldEventType, value: eventType },
    { key: HeraldEndpointId, value: endpointId },
    { key: HeraldStatus, value: 'pending' },
    { key: HeraldAttempts, value: attempts },
  ];
}
