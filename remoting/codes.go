package remoting

import "strconv"

// RequestCode is the `code` of a request command. The table below is the
// only place request codes are defined; names are RocketMQ's.
type RequestCode int32

// Request codes (RocketMQ 4.x RequestCode; REMOTING.md §2, §3, §3.13).
const (
	SendMessage                   RequestCode = 10
	PullMessage                   RequestCode = 11
	QueryMessage                  RequestCode = 12
	QueryConsumerOffset           RequestCode = 14
	UpdateConsumerOffset          RequestCode = 15
	UpdateAndCreateTopic          RequestCode = 17
	GetAllTopicConfig             RequestCode = 21
	GetBrokerRuntimeInfo          RequestCode = 28
	SearchOffsetByTimestamp       RequestCode = 29
	GetMaxOffset                  RequestCode = 30
	GetMinOffset                  RequestCode = 31
	GetEarliestMsgStoreTime       RequestCode = 32
	ViewMessageByID               RequestCode = 33
	HeartBeat                     RequestCode = 34
	UnregisterClient              RequestCode = 35
	ConsumerSendMsgBack           RequestCode = 36
	EndTransaction                RequestCode = 37
	GetConsumerListByGroup        RequestCode = 38
	CheckTransactionState         RequestCode = 39
	NotifyConsumerIDsChanged      RequestCode = 40
	LockBatchMQ                   RequestCode = 41
	UnlockBatchMQ                 RequestCode = 42
	RegisterBroker                RequestCode = 103
	UnregisterBroker              RequestCode = 104
	GetRouteInfoByTopic           RequestCode = 105
	GetBrokerClusterInfo          RequestCode = 106
	GetAllSubscriptionGroupConfig RequestCode = 201
	GetAllTopicListFromNameServer RequestCode = 206
	DeleteTopicInBroker           RequestCode = 215
	DeleteTopicInNamesrv          RequestCode = 216
	ResetConsumerClientOffset     RequestCode = 220
	GetConsumerStatusFromClient   RequestCode = 221
	GetConsumerRunningInfo        RequestCode = 307
	ConsumeMessageDirectly        RequestCode = 309
	SendMessageV2                 RequestCode = 310
	SendBatchMessage              RequestCode = 320
	SendReplyMessage              RequestCode = 324
	SendReplyMessageV2            RequestCode = 325
	PushReplyMessageToClient      RequestCode = 326
	LitePullMessage               RequestCode = 361
	// DLedgerMembers is ours (no RocketMQ code changes a DLedger group's
	// membership): list, add or remove a member of a broker group.
	DLedgerMembers RequestCode = 40001
)

var requestCodeNames = map[RequestCode]string{
	SendMessage:                   "SEND_MESSAGE",
	PullMessage:                   "PULL_MESSAGE",
	QueryMessage:                  "QUERY_MESSAGE",
	QueryConsumerOffset:           "QUERY_CONSUMER_OFFSET",
	UpdateConsumerOffset:          "UPDATE_CONSUMER_OFFSET",
	UpdateAndCreateTopic:          "UPDATE_AND_CREATE_TOPIC",
	SearchOffsetByTimestamp:       "SEARCH_OFFSET_BY_TIMESTAMP",
	GetMaxOffset:                  "GET_MAX_OFFSET",
	DLedgerMembers:                "DLEDGER_MEMBERS",
	GetAllTopicConfig:             "GET_ALL_TOPIC_CONFIG",
	GetBrokerRuntimeInfo:          "GET_BROKER_RUNTIME_INFO",
	GetEarliestMsgStoreTime:       "GET_EARLIEST_MSG_STORETIME",
	GetMinOffset:                  "GET_MIN_OFFSET",
	ViewMessageByID:               "VIEW_MESSAGE_BY_ID",
	HeartBeat:                     "HEART_BEAT",
	UnregisterClient:              "UNREGISTER_CLIENT",
	ConsumerSendMsgBack:           "CONSUMER_SEND_MSG_BACK",
	EndTransaction:                "END_TRANSACTION",
	GetConsumerListByGroup:        "GET_CONSUMER_LIST_BY_GROUP",
	CheckTransactionState:         "CHECK_TRANSACTION_STATE",
	NotifyConsumerIDsChanged:      "NOTIFY_CONSUMER_IDS_CHANGED",
	LockBatchMQ:                   "LOCK_BATCH_MQ",
	UnlockBatchMQ:                 "UNLOCK_BATCH_MQ",
	RegisterBroker:                "REGISTER_BROKER",
	UnregisterBroker:              "UNREGISTER_BROKER",
	GetRouteInfoByTopic:           "GET_ROUTEINFO_BY_TOPIC",
	GetBrokerClusterInfo:          "GET_BROKER_CLUSTER_INFO",
	GetAllSubscriptionGroupConfig: "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
	GetAllTopicListFromNameServer: "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
	DeleteTopicInBroker:           "DELETE_TOPIC_IN_BROKER",
	DeleteTopicInNamesrv:          "DELETE_TOPIC_IN_NAMESRV",
	ResetConsumerClientOffset:     "RESET_CONSUMER_CLIENT_OFFSET",
	GetConsumerStatusFromClient:   "GET_CONSUMER_STATUS_FROM_CLIENT",
	GetConsumerRunningInfo:        "GET_CONSUMER_RUNNING_INFO",
	ConsumeMessageDirectly:        "CONSUME_MESSAGE_DIRECTLY",
	SendMessageV2:                 "SEND_MESSAGE_V2",
	SendBatchMessage:              "SEND_BATCH_MESSAGE",
	SendReplyMessage:              "SEND_REPLY_MESSAGE",
	SendReplyMessageV2:            "SEND_REPLY_MESSAGE_V2",
	PushReplyMessageToClient:      "PUSH_REPLY_MESSAGE_TO_CLIENT",
	LitePullMessage:               "LITE_PULL_MESSAGE",
}

// String returns the RocketMQ name, e.g. "SEND_MESSAGE", or "REQUEST_<n>" for
// a code not in the table.
func (c RequestCode) String() string {
	if s, ok := requestCodeNames[c]; ok {
		return s
	}
	return "REQUEST_" + strconv.FormatInt(int64(c), 10)
}

// ResponseCode is the `code` of a response command. The table below is the
// only place response codes are defined; names are RocketMQ's.
type ResponseCode int32

// Response codes (RocketMQ 4.x ResponseCode; REMOTING.md §7).
const (
	Success                    ResponseCode = 0
	SystemError                ResponseCode = 1
	SystemBusy                 ResponseCode = 2
	RequestCodeNotSupported    ResponseCode = 3
	TransactionFailed          ResponseCode = 4
	FlushDiskTimeout           ResponseCode = 10
	SlaveNotAvailable          ResponseCode = 11
	FlushSlaveTimeout          ResponseCode = 12
	MessageIllegal             ResponseCode = 13
	ServiceNotAvailable        ResponseCode = 14
	VersionNotSupported        ResponseCode = 15
	NoPermission               ResponseCode = 16
	TopicNotExist              ResponseCode = 17
	TopicExistAlready          ResponseCode = 18
	PullNotFound               ResponseCode = 19
	PullRetryImmediately       ResponseCode = 20
	PullOffsetMoved            ResponseCode = 21
	QueryNotFound              ResponseCode = 22
	SubscriptionParseFailed    ResponseCode = 23
	SubscriptionNotExist       ResponseCode = 24
	SubscriptionNotLatest      ResponseCode = 25
	SubscriptionGroupNotExist  ResponseCode = 26
	FilterDataNotExist         ResponseCode = 27
	FilterDataNotLatest        ResponseCode = 28
	TransactionShouldCommit    ResponseCode = 200
	TransactionShouldRollback  ResponseCode = 201
	TransactionStateUnknown    ResponseCode = 202
	TransactionStateGroupWrong ResponseCode = 203
	NoBuyerID                  ResponseCode = 204
	NotInCurrentUnit           ResponseCode = 205
	ConsumerNotOnline          ResponseCode = 206
	ConsumeMsgTimeout          ResponseCode = 207
	NoMessage                  ResponseCode = 208
)

var responseCodeNames = map[ResponseCode]string{
	Success:                    "SUCCESS",
	SystemError:                "SYSTEM_ERROR",
	SystemBusy:                 "SYSTEM_BUSY",
	RequestCodeNotSupported:    "REQUEST_CODE_NOT_SUPPORTED",
	TransactionFailed:          "TRANSACTION_FAILED",
	FlushDiskTimeout:           "FLUSH_DISK_TIMEOUT",
	SlaveNotAvailable:          "SLAVE_NOT_AVAILABLE",
	FlushSlaveTimeout:          "FLUSH_SLAVE_TIMEOUT",
	MessageIllegal:             "MESSAGE_ILLEGAL",
	ServiceNotAvailable:        "SERVICE_NOT_AVAILABLE",
	VersionNotSupported:        "VERSION_NOT_SUPPORTED",
	NoPermission:               "NO_PERMISSION",
	TopicNotExist:              "TOPIC_NOT_EXIST",
	TopicExistAlready:          "TOPIC_EXIST_ALREADY",
	PullNotFound:               "PULL_NOT_FOUND",
	PullRetryImmediately:       "PULL_RETRY_IMMEDIATELY",
	PullOffsetMoved:            "PULL_OFFSET_MOVED",
	QueryNotFound:              "QUERY_NOT_FOUND",
	SubscriptionParseFailed:    "SUBSCRIPTION_PARSE_FAILED",
	SubscriptionNotExist:       "SUBSCRIPTION_NOT_EXIST",
	SubscriptionNotLatest:      "SUBSCRIPTION_NOT_LATEST",
	SubscriptionGroupNotExist:  "SUBSCRIPTION_GROUP_NOT_EXIST",
	FilterDataNotExist:         "FILTER_DATA_NOT_EXIST",
	FilterDataNotLatest:        "FILTER_DATA_NOT_LATEST",
	TransactionShouldCommit:    "TRANSACTION_SHOULD_COMMIT",
	TransactionShouldRollback:  "TRANSACTION_SHOULD_ROLLBACK",
	TransactionStateUnknown:    "TRANSACTION_STATE_UNKNOW",
	TransactionStateGroupWrong: "TRANSACTION_STATE_GROUP_WRONG",
	NoBuyerID:                  "NO_BUYER_ID",
	NotInCurrentUnit:           "NOT_IN_CURRENT_UNIT",
	ConsumerNotOnline:          "CONSUMER_NOT_ONLINE",
	ConsumeMsgTimeout:          "CONSUME_MSG_TIMEOUT",
	NoMessage:                  "NO_MESSAGE",
}

// String returns the RocketMQ name, e.g. "TOPIC_NOT_EXIST", or
// "RESPONSE_<n>" for a code not in the table.
func (c ResponseCode) String() string {
	if s, ok := responseCodeNames[c]; ok {
		return s
	}
	return "RESPONSE_" + strconv.FormatInt(int64(c), 10)
}
