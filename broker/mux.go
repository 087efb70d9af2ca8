package broker

import "github.com/dledgermq/dledgermq/remoting"

// mux routes every request code the broker serves; anything else is
// answered REQUEST_CODE_NOT_SUPPORTED (3).
func (b *Broker) mux() *remoting.ServeMux {
	m := remoting.NewServeMux()
	for _, code := range []remoting.RequestCode{remoting.SendMessage, remoting.SendMessageV2,
		remoting.SendBatchMessage, remoting.SendReplyMessage, remoting.SendReplyMessageV2} {
		m.HandleFunc(code, b.handleSend)
	}
	m.HandleFunc(remoting.PullMessage, b.handlePull)
	m.HandleFunc(remoting.HeartBeat, b.handleHeartbeat)
	m.HandleFunc(remoting.UnregisterClient, b.handleUnregisterClient)
	m.HandleFunc(remoting.GetConsumerListByGroup, b.handleGetConsumerList)
	m.HandleFunc(remoting.QueryConsumerOffset, b.handleQueryConsumerOffset)
	m.HandleFunc(remoting.UpdateConsumerOffset, b.handleUpdateConsumerOffset)
	m.HandleFunc(remoting.GetMaxOffset, b.handleGetMaxOffset)
	m.HandleFunc(remoting.GetMinOffset, b.handleGetMinOffset)
	m.HandleFunc(remoting.SearchOffsetByTimestamp, b.handleSearchOffset)
	m.HandleFunc(remoting.ConsumerSendMsgBack, b.handleSendBack)
	m.HandleFunc(remoting.EndTransaction, b.handleEndTransaction)
	m.HandleFunc(remoting.LockBatchMQ, b.handleLockBatch)
	m.HandleFunc(remoting.UnlockBatchMQ, b.handleUnlockBatch)
	m.HandleFunc(remoting.UpdateAndCreateTopic, b.handleCreateTopic)
	m.HandleFunc(remoting.DeleteTopicInBroker, b.handleDeleteTopic)
	m.HandleFunc(remoting.GetAllTopicConfig, b.handleGetAllTopicConfig)
	m.HandleFunc(remoting.GetAllSubscriptionGroupConfig, b.handleGetAllSubscriptionGroups)
	m.HandleFunc(remoting.GetEarliestMsgStoreTime, b.handleGetEarliestMsgStoreTime)
	m.HandleFunc(remoting.QueryMessage, b.handleQueryMessage)
	m.HandleFunc(remoting.ViewMessageByID, b.handleViewMessageByID)
	m.HandleFunc(remoting.GetBrokerRuntimeInfo, b.handleGetBrokerRuntimeInfo)
	m.HandleFunc(remoting.DLedgerMembers, b.handleMembers)
	return m
}
