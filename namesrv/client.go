package namesrv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dledgermq/dledgermq/remoting"
)

// Errors of the client helpers.
var (
	// ErrTopicNotExist: the name server has no route for the topic (17).
	ErrTopicNotExist = errors.New("namesrv: topic not exist")
	// ErrStaleTerm: a brokerId-0 registration carried an older dledgerTerm
	// than the group's current master; nothing was registered.
	ErrStaleTerm = errors.New("namesrv: stale master registration")
	// ErrResponse: the name server answered with an unexpected code.
	ErrResponse = errors.New("namesrv: unexpected response")
)

func responseError(resp *remoting.Command) error {
	return fmt.Errorf("%w: %s (%d): %s", ErrResponse, resp.ResponseCode(), resp.Code, resp.Remark)
}

// Registration is what a broker node registers with a name server.
type Registration struct {
	ClusterName  string
	BrokerName   string
	BrokerAddr   string // "ip:port" clients connect to
	HAServerAddr string
	BrokerID     int64 // 0 = master (the DLedger leader), >= 1 followers
	// Term is the DLedger term in which the node holds its role; 0 = not
	// sent (RocketMQ's last-registration-wins).
	Term        int64
	Topics      map[string]TopicConfig
	DataVersion DataVersion
}

// RegisterResult is the name server's answer to a registration.
type RegisterResult struct {
	MasterAddr   string // the group's master, for a follower registration
	HAServerAddr string
	Term         int64 // the group's master term, 0 if unknown
}

// RegisterBroker sends REGISTER_BROKER (103) over c. A registration refused
// for a stale term returns ErrStaleTerm together with the result naming the
// current master.
func RegisterBroker(ctx context.Context, c *remoting.Client, reg Registration) (RegisterResult, error) {
	body, err := json.Marshal(RegisterBrokerBody{
		TopicConfigSerializeWrapper: TopicConfigSerializeWrapper{TopicConfigTable: reg.Topics, DataVersion: reg.DataVersion},
		FilterServerList:            []string{},
	})
	if err != nil {
		return RegisterResult{}, fmt.Errorf("namesrv: encode registration: %w", err)
	}
	ext := map[string]string{
		ExtClusterName:  reg.ClusterName,
		ExtBrokerName:   reg.BrokerName,
		ExtBrokerAddr:   reg.BrokerAddr,
		ExtHAServerAddr: reg.HAServerAddr,
		ExtBrokerID:     strconv.FormatInt(reg.BrokerID, 10),
		ExtCompressed:   "false",
		ExtBodyCRC32:    strconv.FormatInt(BodyCRC32(body), 10),
	}
	if reg.Term != 0 {
		ext[ExtDLedgerTerm] = strconv.FormatInt(reg.Term, 10)
	}
	resp, err := c.Invoke(ctx, remoting.NewRequest(remoting.RegisterBroker, ext, body))
	if err != nil {
		return RegisterResult{}, err
	}
	res := RegisterResult{MasterAddr: resp.Ext(ExtMasterAddr), HAServerAddr: resp.Ext(ExtHAServerAddr)}
	res.Term, _, _ = resp.ExtInt(ExtDLedgerTerm)
	switch {
	case resp.ResponseCode() == remoting.Success:
		return res, nil
	case resp.ResponseCode() == remoting.NoPermission && resp.ExtFields[ExtDLedgerTerm] != "":
		return res, fmt.Errorf("%w: %s", ErrStaleTerm, resp.Remark)
	}
	return res, responseError(resp)
}

// UnregisterBroker sends UNREGISTER_BROKER (104) over c.
func UnregisterBroker(ctx context.Context, c *remoting.Client, clusterName, brokerName, brokerAddr string, brokerID int64) error {
	resp, err := c.Invoke(ctx, remoting.NewRequest(remoting.UnregisterBroker, map[string]string{
		ExtClusterName: clusterName, ExtBrokerName: brokerName, ExtBrokerAddr: brokerAddr,
		ExtBrokerID: strconv.FormatInt(brokerID, 10),
	}, nil))
	if err != nil {
		return err
	}
	if resp.ResponseCode() != remoting.Success {
		return responseError(resp)
	}
	return nil
}

// GetRouteInfo sends GET_ROUTEINFO_BY_TOPIC (105) over c; an unknown topic
// returns ErrTopicNotExist.
func GetRouteInfo(ctx context.Context, c *remoting.Client, topic string) (*TopicRouteData, error) {
	resp, err := c.Invoke(ctx, remoting.NewRequest(remoting.GetRouteInfoByTopic, map[string]string{ExtTopic: topic}, nil))
	if err != nil {
		return nil, err
	}
	switch resp.ResponseCode() {
	case remoting.Success:
	case remoting.TopicNotExist:
		return nil, fmt.Errorf("%w: %s", ErrTopicNotExist, topic)
	default:
		return nil, responseError(resp)
	}
	var rd TopicRouteData
	if err := json.Unmarshal(resp.Body, &rd); err != nil {
		return nil, fmt.Errorf("namesrv: decode route of %s: %w", topic, err)
	}
	return &rd, nil
}

// GetClusterInfo sends GET_BROKER_CLUSTER_INFO (106) over c.
func GetClusterInfo(ctx context.Context, c *remoting.Client) (*ClusterInfo, error) {
	resp, err := c.Invoke(ctx, remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil))
	if err != nil {
		return nil, err
	}
	if resp.ResponseCode() != remoting.Success {
		return nil, responseError(resp)
	}
	var ci ClusterInfo
	if err := json.Unmarshal(resp.Body, &ci); err != nil {
		return nil, fmt.Errorf("namesrv: decode cluster info: %w", err)
	}
	return &ci, nil
}

// GetAllTopics sends GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206) over c.
func GetAllTopics(ctx context.Context, c *remoting.Client) ([]string, error) {
	resp, err := c.Invoke(ctx, remoting.NewRequest(remoting.GetAllTopicListFromNameServer, nil, nil))
	if err != nil {
		return nil, err
	}
	if resp.ResponseCode() != remoting.Success {
		return nil, responseError(resp)
	}
	var tl TopicList
	if err := json.Unmarshal(resp.Body, &tl); err != nil {
		return nil, fmt.Errorf("namesrv: decode topic list: %w", err)
	}
	return tl.TopicList, nil
}

// DeleteTopic sends DELETE_TOPIC_IN_NAMESRV (216) over c.
func DeleteTopic(ctx context.Context, c *remoting.Client, topic string) error {
	resp, err := c.Invoke(ctx, remoting.NewRequest(remoting.DeleteTopicInNamesrv, map[string]string{ExtTopic: topic}, nil))
	if err != nil {
		return err
	}
	if resp.ResponseCode() != remoting.Success {
		return responseError(resp)
	}
	return nil
}
