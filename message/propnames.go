package message

// Property names RocketMQ uses (MessageConst). Frozen: they travel on the wire.
const (
	PropKeys                        = "KEYS"
	PropTags                        = "TAGS"
	PropWaitStoreMsgOK              = "WAIT"
	PropDelayTimeLevel              = "DELAY"
	PropRetryTopic                  = "RETRY_TOPIC"
	PropRealTopic                   = "REAL_TOPIC"
	PropRealQueueID                 = "REAL_QID"
	PropTransactionPrepared         = "TRAN_MSG"
	PropProducerGroup               = "PGROUP"
	PropMinOffset                   = "MIN_OFFSET"
	PropMaxOffset                   = "MAX_OFFSET"
	PropBuyerID                     = "BUYER_ID"
	PropOriginMessageID             = "ORIGIN_MESSAGE_ID"
	PropTransferFlag                = "TRANSFER_FLAG"
	PropCorrectionFlag              = "CORRECTION_FLAG"
	PropMQ2Flag                     = "MQ2_FLAG"
	PropReconsumeTime               = "RECONSUME_TIME"
	PropMsgRegion                   = "MSG_REGION"
	PropTraceSwitch                 = "TRACE_ON"
	PropUniqClientMessageIDKeyIndex = "UNIQ_KEY"
	PropMaxReconsumeTimes           = "MAX_RECONSUME_TIMES"
	PropConsumeStartTime            = "CONSUME_START_TIME"
	PropTranPreparedQueueOffset     = "TRAN_PREPARED_QUEUE_OFFSET"
	PropTransactionCheckTimes       = "TRANSACTION_CHECK_TIMES"
	PropCheckImmunityTimeInSeconds  = "CHECK_IMMUNITY_TIME_IN_SECONDS"
	PropInstanceID                  = "INSTANCE_ID"
	PropCorrelationID               = "CORRELATION_ID"
	PropMessageReplyToClient        = "REPLY_TO_CLIENT"
	PropMessageTTL                  = "TTL"
	PropReplyMessageArriveTime      = "ARRIVE_TIME"
	PropPushReplyTime               = "PUSH_REPLY_TIME"
	PropCluster                     = "CLUSTER"
	PropMessageType                 = "MSG_TYPE"
	PropShardingKey                 = "SHARDING_KEY"
	PropTransactionID               = "__transactionId__"

	// PropUniqKey is a short alias of PropUniqClientMessageIDKeyIndex.
	PropUniqKey = PropUniqClientMessageIDKeyIndex
)

// KeySeparator separates business keys inside the KEYS property.
const KeySeparator = " "

// Property string separators (MessageDecoder.NAME_VALUE_SEPARATOR and
// PROPERTY_SEPARATOR). Frozen.
const (
	NameValueSeparator byte = 1
	PropertySeparator  byte = 2
)
