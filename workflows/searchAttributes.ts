import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Herald's custom search attributes; registered on the embedded server at start. */
export const HeraldTenant = defineSearchAttributeKey('HeraldTenant', SearchAttributeType.KEYWORD);
export const HeraldEventType = defineSearchAttributeKey('HeraldEventType', SearchAttributeType.KEYWORD);
export const HeraldEndpointId = defineSearchAttributeKey('HeraldEndpointId', SearchAttributeType.KEYWORD);
export const HeraldStatus = defineSearchAttributeKey('HeraldStatus', SearchAttributeType.KEYWORD);
export const HeraldAttempts = defineSearchAttributeKey('HeraldAttempts', SearchAttributeType.INT);

export const heraldSearchAttributes = [HeraldTenant, HeraldEventType, HeraldEndpointId, HeraldStatus, HeraldAttempts];
