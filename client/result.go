package client

import (
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// SendStatus is the broker's verdict on an acknowledged send. Every status
// means the message was stored by the broker that answered; the non-OK ones
// say a durability step lagged (RocketMQ keeps them for master/slave
// setups; a DLedger broker answers SendOK only after a majority stored it).
type SendStatus uint8

const (
	SendOK                SendStatus = 1 // SUCCESS (0)
	SendFlushDiskTimeout  SendStatus = 2 // FLUSH_DISK_TIMEOUT (10)
	SendFlushSlaveTimeout SendStatus = 3 // FLUSH_SLAVE_TIMEOUT (12)
	SendSlaveNotAvailable SendStatus = 4 // SLAVE_NOT_AVAILABLE (11)
)

func (s SendStatus) String() string {
	switch s {
	case SendOK:
		return "SEND_OK"
	case SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	}
	return "SEND_STATUS_INVALID"
}

// sendStatusOf maps the stored-message response codes; ok is false for
// every other code.
func sendStatusOf(code remoting.ResponseCode) (SendStatus, bool) {
	switch code {
	case remoting.Success:
		return SendOK, true
	case remoting.FlushDiskTimeout:
		return SendFlushDiskTimeout, true
	case remoting.FlushSlaveTimeout:
		return SendFlushSlaveTimeout, true
	case remoting.SlaveNotAvailable:
		return SendSlaveNotAvailable, true
	}
	return 0, false
}

// SendResult describes a send operation (all its attempts). Outcome is
// always set and agrees with OutcomeOf(err); the other fields are filled as
// far as the operation got.
type SendResult struct {
	Outcome Outcome
	Status  SendStatus // set when Outcome == OutcomeOK
	// MsgID is the UNIQ_KEY of the (first) message, the id consumers see.
	// Set for every outcome, so an unknown send can be looked for later.
	MsgID string
	// MsgIDs are the UNIQ_KEYs of a batch's messages, in order (nil for a
	// single message).
	MsgIDs []string
	// OffsetMsgID is the broker's id of the (first) stored message
	// (store host + physical offset); OffsetMsgIDs has one per message of
	// a batch when the broker reported them.
	OffsetMsgID  string
	OffsetMsgIDs []string
	// Queue is the queue of the last attempt; QueueOffset the consume-queue
	// offset of the (first) stored message, -1 when unknown. Batch members
	// get consecutive offsets.
	Queue       MessageQueue
	QueueOffset int64
	BrokerAddr  string // address of the last attempt
	Attempts    int    // attempts made (1 + retries)
	// MaybeDuplicated is set on a success after an attempt whose outcome
	// was unknown: the message may be stored twice (same UNIQ_KEY).
	MaybeDuplicated bool
	Latency         time.Duration // from the call to the final outcome
}
