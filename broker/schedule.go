package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/store"
)

// scheduleService delivers delayed messages (RocketMQ's
// ScheduleMessageService). A message with DELAY level L is stored in
// SCHEDULE_TOPIC_XXXX queue L-1 with its destination in REAL_TOPIC /
// REAL_QID; all messages of one level have the same delay, so each queue is
// due in order. One goroutine per level reads its queue from the progress
// offset, waits until the head is due (storeTimestamp + delay), and
// re-stores every due message in its real topic and queue (DELAY removed).
//
// Progress is replicated and exact: the same PutMessages call (one Raft
// entry) that re-stores a batch also appends a progress record to
// ScheduleProgressTopic queue L-1 whose body is the next schedule offset to
// deliver. Either both are committed or neither, so a new leader (which
// reports leadership only once it applied everything committed before its
// term) resumes exactly after the last delivered batch: a failover neither
// loses nor duplicates delayed messages. The service runs only on the
// leader (Broker.roleLoop).
type scheduleService struct {
	b *Broker

	wake []chan struct{} // per level, capacity 1: an arrival in its queue

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// scheduleBatch is how many messages one level delivers per put.
const scheduleBatch = 32

func newScheduleService(b *Broker) *scheduleService {
	s := &scheduleService{b: b, wake: make([]chan struct{}, len(b.delays))}
	for i := range s.wake {
		s.wake[i] = make(chan struct{}, 1)
	}
	return s
}

// arrived signals that level queue queueID got messages (FSM goroutine).
func (s *scheduleService) arrived(queueID int32) {
	if queueID >= 0 && int(queueID) < len(s.wake) {
		select {
		case s.wake[queueID] <- struct{}{}:
		default:
		}
	}
}

// start runs the level loops unless they are running.
func (s *scheduleService) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil || s.b.closing() {
		return
	}
	ctx, cancel := context.WithCancel(s.b.ctx)
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	var wg sync.WaitGroup
	for lvl := range s.b.delays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runLevel(ctx, lvl)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
}

// stop stops the level loops and waits for them.
func (s *scheduleService) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// running reports whether the service runs (tests).
func (s *scheduleService) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancel != nil
}

// runLevel delivers queue lvl (level lvl+1) until ctx is done.
func (s *scheduleService) runLevel(ctx context.Context, lvl int) {
	b := s.b
	qid := int32(lvl)
	delay := b.delays[lvl]
	offset, err := s.progress(qid)
	if err != nil {
		b.log.Error("broker: cannot read delay progress; level not served", "level", lvl+1, "err", err)
		return
	}
	for ctx.Err() == nil {
		wait := b.cfg.ScheduleIdleInterval
		res, err := b.store.GetMessages("", ScheduleTopic, qid, offset, scheduleBatch, nil)
		switch {
		case err != nil:
			b.log.Warn("broker: schedule read failed", "level", lvl+1, "offset", offset, "err", err)
		case res.Status == store.GetFound:
			next, due, err := s.deliver(ctx, qid, delay, res.Body)
			if err != nil {
				if ctx.Err() == nil {
					b.log.Warn("broker: schedule delivery failed", "level", lvl+1, "offset", offset, "err", err)
				}
			} else if next > offset {
				offset = next
				continue // more may be due
			} else if d := time.Until(due); d > 0 {
				wait = d
			}
		case res.Status == store.GetOffsetTooSmall || res.Status == store.GetOffsetOverflowBadly ||
			res.Status == store.GetNoMatchedMessage || res.Status == store.GetMessageWasRemoving ||
			res.Status == store.GetOffsetFoundNull:
			if res.NextBeginOffset != offset {
				offset = res.NextBeginOffset
				continue
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-s.wake[lvl]:
		}
		t.Stop()
	}
}

// deliver re-stores the due messages at the head of body together with the
// progress record. It returns the offset after the last delivered message
// (the first one's offset when none was due) and the due time of the first
// message not delivered.
func (s *scheduleService) deliver(ctx context.Context, qid int32, delay time.Duration, body []byte) (next int64, due time.Time, err error) {
	b := s.b
	now := b.cfg.Now()
	var out []*message.MessageExt
	next, start := int64(-1), int64(-1)
	for off := 0; off < len(body); {
		m, n, err := message.Decode(body[off:])
		if err != nil {
			return 0, time.Time{}, err
		}
		off += n
		if next < 0 {
			next, start = m.QueueOffset, m.QueueOffset
		}
		due = time.UnixMilli(m.StoreTimestamp).Add(delay)
		if due.After(now) {
			break
		}
		if rm := realMessage(&m); rm != nil {
			out = append(out, rm)
		} else {
			b.log.Warn("broker: delayed message without a valid REAL_TOPIC/REAL_QID dropped", "level", qid+1, "offset", m.QueueOffset)
		}
		next = m.QueueOffset + 1
	}
	if next == start {
		return next, due, nil
	}
	out = append(out, &message.MessageExt{
		Message:       message.Message{Topic: ScheduleProgressTopic, Body: []byte(strconv.FormatInt(next, 10))},
		QueueID:       qid,
		BornTimestamp: now.UnixMilli(),
		BornHost:      b.addr,
	})
	wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	_, err = b.store.PutMessages(wctx, out)
	cancel()
	if err != nil {
		return 0, time.Time{}, err
	}
	return next, due, nil
}

// progress returns the first undelivered offset of level queue qid: the
// body of the last progress record, or the queue's min offset when there is
// none.
func (s *scheduleService) progress(qid int32) (int64, error) {
	st := s.b.store
	last := st.MaxOffset(ScheduleProgressTopic, qid) - 1
	if last < 0 {
		return st.MinOffset(ScheduleTopic, qid), nil
	}
	res, err := st.GetMessages("", ScheduleProgressTopic, qid, last, 1, nil)
	if err != nil {
		return 0, err
	}
	if res.Status != store.GetFound {
		return 0, fmt.Errorf("%w: progress record %d of level %d: %s", ErrMessageNotFound, last, qid+1, res.Status)
	}
	v, err := message.ParseView(res.Body)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(v.Body()), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("broker: progress record %d of level %d: body %q", last, qid+1, v.Body())
	}
	return max(n, st.MinOffset(ScheduleTopic, qid)), nil
}

// realMessage turns a parked message back into the one its producer sent.
func realMessage(m *message.MessageExt) *message.MessageExt {
	topic := m.Properties.Get(message.PropRealTopic)
	qid, err := parseInt32(m.Properties.Get(message.PropRealQueueID))
	if topic == "" || err != nil || qid < 0 {
		return nil
	}
	props := m.Properties.Clone()
	props.Delete(message.PropDelayTimeLevel)
	return &message.MessageExt{
		Message:        message.Message{Topic: topic, Flag: m.Flag, Properties: props, Body: m.Body},
		QueueID:        qid,
		SysFlag:        m.SysFlag &^ (message.FlagBornHostV6 | message.FlagStoreHostV6),
		BornTimestamp:  m.BornTimestamp,
		BornHost:       m.BornHost,
		ReconsumeTimes: m.ReconsumeTimes,
	}
}

func parseInt32(s string) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err
}
