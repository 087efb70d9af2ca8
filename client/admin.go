package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// Admin wraps the few administrative requests bench and jepsen need.
type Admin struct{ c *Client }

// Admin returns the client's admin helper.
func (c *Client) Admin() *Admin { return &Admin{c: c} }

// TopicConfig is what UPDATE_AND_CREATE_TOPIC (17) sets.
type TopicConfig struct {
	Topic       string
	ReadQueues  int  // readQueueNums, >= 1
	WriteQueues int  // writeQueueNums, >= 1
	Perm        int  // PermRead|PermWrite (6) for a normal topic
	Order       bool // ordered topic flag (informational for brokers)
}

// NewTopicConfig returns a normal read/write topic with n queues.
func NewTopicConfig(topic string, n int) TopicConfig {
	return TopicConfig{Topic: topic, ReadQueues: n, WriteQueues: n, Perm: PermRead | PermWrite}
}

// Validate reports every invalid field.
func (tc TopicConfig) Validate() error {
	var errs []error
	if err := message.ValidateTopic(tc.Topic); err != nil {
		errs = append(errs, err)
	}
	if tc.ReadQueues < 1 {
		errs = append(errs, fmt.Errorf("ReadQueues %d < 1", tc.ReadQueues))
	}
	if tc.WriteQueues < 1 {
		errs = append(errs, fmt.Errorf("WriteQueues %d < 1", tc.WriteQueues))
	}
	if tc.Perm < 0 || tc.Perm > PermPriority|PermRead|PermWrite|PermInherit {
		errs = append(errs, fmt.Errorf("Perm %d outside 0..15", tc.Perm))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: topic config: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// CreateTopic sends UPDATE_AND_CREATE_TOPIC to each address in turn until
// one answers SUCCESS: pass every node of a broker group when the leader
// is not known (followers forward or refuse with a retryable code). While
// every address refuses retryably (transport error, codes 1, 2, 14, 16: no
// leader elected yet), it tries again every 100 ms until ctx ends, or for
// DefaultWaitRouteTimeout if ctx has no deadline. It returns the address
// that accepted, or the joined errors of the last round.
func (ad *Admin) CreateTopic(ctx context.Context, tc TopicConfig, addrs ...string) (string, error) {
	if err := tc.Validate(); err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("%w: CreateTopic without a broker address", ErrInvalidConfig)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWaitRouteTimeout)
		defer cancel()
	}
	for {
		var errs []error
		retry := true
		for _, addr := range addrs {
			ext := map[string]string{
				"topic":           tc.Topic,
				"defaultTopic":    defaultTopic,
				"readQueueNums":   strconv.Itoa(tc.ReadQueues),
				"writeQueueNums":  strconv.Itoa(tc.WriteQueues),
				"perm":            strconv.Itoa(tc.Perm),
				"topicFilterType": "SINGLE_TAG",
				"topicSysFlag":    "0",
				"order":           strconv.FormatBool(tc.Order),
			}
			resp, err := ad.c.invoke(ctx, addr, remoting.NewRequest(remoting.UpdateAndCreateTopic, ext, nil), ad.c.cfg.SendTimeout)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", addr, err))
				retry = retry && !errors.Is(err, ErrClosed)
			case resp.ResponseCode() == remoting.Success:
				return addr, nil
			default:
				errs = append(errs, brokerError(remoting.UpdateAndCreateTopic, resp, addr))
				retry = retry && retryableCode(resp.ResponseCode()) && resp.ResponseCode() != remoting.TopicNotExist
			}
			if ctx.Err() != nil {
				break
			}
		}
		err := fmt.Errorf("client: create topic %q: %w", tc.Topic, errors.Join(errs...))
		if !retry || ctx.Err() != nil {
			return "", err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", err
		}
	}
}

// DefaultWaitRouteTimeout bounds WaitForRoute when ctx has no deadline.
const DefaultWaitRouteTimeout = 30 * time.Second

// WaitForRoute queries the name servers until topic's route has at least
// minQueues publish queues (writable, on a broker group with a brokerId-0
// address; minQueues < 1 means 1), polling every 50 ms up to 500 ms apart.
// It gives up with ErrWaitRoute when ctx ends, or after
// DefaultWaitRouteTimeout if ctx has no deadline. The route is left in the
// client's cache.
func (ad *Admin) WaitForRoute(ctx context.Context, topic string, minQueues int) (*TopicRoute, error) {
	if minQueues < 1 {
		minQueues = 1
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWaitRouteTimeout)
		defer cancel()
	}
	delay := 50 * time.Millisecond
	var last error
	for {
		snap, err := ad.c.routes.refresh(ctx, topic)
		if err == nil {
			if len(snap.publish) >= minQueues {
				return snap.route, nil
			}
			err = fmt.Errorf("%d publish queues, want %d", len(snap.publish), minQueues)
		}
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: topic %q: %w (last: %w)", ErrWaitRoute, topic, ctx.Err(), last)
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}
