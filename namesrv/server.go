package namesrv

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// Server is a RocketMQ-compatible name server. Several run side by side
// without sharing anything: every broker registers with each of them.
type Server struct {
	cfg   Config
	log   *slog.Logger
	table *routeTable
	rs    *remoting.Server

	stop     chan struct{}
	stopOnce sync.Once
	scanWG   sync.WaitGroup
	scanOnce sync.Once
}

// New returns a name server; it serves nothing until Serve or
// ListenAndServe.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, table: newRouteTable(), stop: make(chan struct{})}
	mux := remoting.NewServeMux()
	mux.HandleFunc(remoting.RegisterBroker, s.registerBroker)
	mux.HandleFunc(remoting.UnregisterBroker, s.unregisterBroker)
	mux.HandleFunc(remoting.GetRouteInfoByTopic, s.getRouteInfo)
	mux.HandleFunc(remoting.GetBrokerClusterInfo, s.getClusterInfo)
	mux.HandleFunc(remoting.GetAllTopicListFromNameServer, s.getAllTopics)
	mux.HandleFunc(remoting.DeleteTopicInNamesrv, s.deleteTopic)
	rc := remoting.ServerConfig{Conn: cfg.Conn, OnClose: s.connClosed}
	if rc.Conn.Logger == nil {
		rc.Conn.Logger = cfg.Logger
	}
	rs, err := remoting.NewServer(rc, mux)
	if err != nil {
		return nil, fmt.Errorf("namesrv: %w", err)
	}
	s.rs = rs
	return s, nil
}

// Serve serves ln until Close; it returns remoting.ErrServerClosed after
// Close.
func (s *Server) Serve(ln net.Listener) error {
	s.scanOnce.Do(func() {
		s.scanWG.Add(1)
		go s.scanLoop()
	})
	return s.rs.Serve(ln)
}

// ListenAndServe listens on Config.ListenAddr and serves it.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("namesrv: listen %s: %w", s.cfg.ListenAddr, err)
	}
	return s.Serve(ln)
}

// Addr returns the listening address, or nil before Serve.
func (s *Server) Addr() net.Addr { return s.rs.Addr() }

// Close stops serving and closes every connection.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	err := s.rs.Close()
	s.scanWG.Wait()
	return err
}

// Route returns the route the server would answer for topic.
func (s *Server) Route(topic string) (*TopicRouteData, bool) {
	return s.table.route(topic, s.cfg.SynthesizeTBW102, s.cfg.AutoCreateQueueNums)
}

func (s *Server) scanLoop() {
	defer s.scanWG.Done()
	tick := time.NewTicker(s.cfg.ScanInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			for _, addr := range s.table.expire(s.cfg.Now(), s.cfg.BrokerExpiry) {
				s.log.Warn("namesrv: broker registration expired", "brokerAddr", addr, "after", s.cfg.BrokerExpiry)
			}
		}
	}
}

func (s *Server) connClosed(c *remoting.Conn, err error) {
	for _, addr := range s.table.connClosed(c.ID()) {
		s.log.Info("namesrv: broker connection closed, registration removed", "brokerAddr", addr, "remote", c.RemoteAddr().String(), "err", err)
	}
}

// badRequest answers a request whose header is unusable (RocketMQ answers
// SYSTEM_ERROR when a custom header does not decode).
func badRequest(req *remoting.Command, format string, args ...any) *remoting.Command {
	return remoting.NewResponse(req, remoting.SystemError, fmt.Sprintf(format, args...))
}

// validAddr reports whether addr is "host:port" without the characters the
// Go client's brokerAddrs parser cannot cope with.
func validAddr(addr string) bool {
	if strings.ContainsAny(addr, ",\"{} \t\r\n") {
		return false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p > 0 && p < 65536
}

func validName(s string) bool {
	return s != "" && len(s) <= 255 && !strings.ContainsAny(s, ",\" \t\r\n")
}

// BodyCRC32 is the bodyCrc32 REGISTER_BROKER carries: CRC-32 (IEEE) of the
// body with the sign bit cleared, as RocketMQ's UtilAll.crc32 computes it.
func BodyCRC32(body []byte) int64 {
	return int64(crc32.ChecksumIEEE(body) & 0x7FFFFFFF)
}

func (s *Server) registerBroker(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	r := registration{
		cluster:      req.Ext(ExtClusterName),
		name:         req.Ext(ExtBrokerName),
		addr:         req.Ext(ExtBrokerAddr),
		haServerAddr: req.Ext(ExtHAServerAddr),
	}
	if !validName(r.cluster) || !validName(r.name) {
		return badRequest(req, "invalid clusterName %q or brokerName %q", r.cluster, r.name)
	}
	if !validAddr(r.addr) {
		return badRequest(req, "invalid brokerAddr %q: want ip:port", r.addr)
	}
	id, ok, err := req.ExtInt(ExtBrokerID)
	if err != nil || !ok || id < 0 {
		return badRequest(req, "invalid brokerId %q", req.Ext(ExtBrokerID))
	}
	r.id = id
	if r.term, r.hasTerm, err = req.ExtInt(ExtDLedgerTerm); err != nil {
		return badRequest(req, "invalid %s: %v", ExtDLedgerTerm, err)
	}
	if req.Ext(ExtCompressed) == "true" {
		return badRequest(req, "compressed RegisterBrokerBody is not supported")
	}
	if crc, ok, err := req.ExtInt(ExtBodyCRC32); err != nil {
		return badRequest(req, "invalid %s: %v", ExtBodyCRC32, err)
	} else if ok && crc != 0 && crc != BodyCRC32(req.Body) {
		return badRequest(req, "crc32 not match: header %d, body %d", crc, BodyCRC32(req.Body))
	}
	if len(req.Body) > 0 {
		var body RegisterBrokerBody
		if err := json.Unmarshal(req.Body, &body); err != nil {
			return badRequest(req, "RegisterBrokerBody: %v", err)
		}
		for name, tc := range body.TopicConfigSerializeWrapper.TopicConfigTable {
			if name == "" || tc.ReadQueueNums < 0 || tc.WriteQueueNums < 0 {
				return badRequest(req, "invalid topic config %q: %+v", name, tc)
			}
		}
		r.topics = body.TopicConfigSerializeWrapper.TopicConfigTable
		r.version = body.TopicConfigSerializeWrapper.DataVersion
	}
	res := s.table.register(r, c.ID(), s.cfg.Now())
	var resp *remoting.Command
	if res.stale {
		s.log.Warn("namesrv: refused a stale master registration", "brokerName", r.name, "brokerAddr", r.addr,
			"term", r.term, "masterTerm", res.term, "master", res.masterAddr)
		resp = remoting.NewResponse(req, remoting.NoPermission, fmt.Sprintf(
			"stale master registration: %s=%d < %d of %s's master %s", ExtDLedgerTerm, r.term, res.term, r.name, res.masterAddr))
	} else {
		resp = remoting.NewResponse(req, remoting.Success, "")
	}
	resp.SetExt(ExtMasterAddr, res.masterAddr)
	resp.SetExt(ExtHAServerAddr, res.haServerAddr)
	if res.hasTerm {
		resp.SetExtInt(ExtDLedgerTerm, res.term)
	}
	return resp
}

func (s *Server) unregisterBroker(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	name, addr := req.Ext(ExtBrokerName), req.Ext(ExtBrokerAddr)
	id, ok, err := req.ExtInt(ExtBrokerID)
	if name == "" || addr == "" || !ok || err != nil {
		return badRequest(req, "UNREGISTER_BROKER needs brokerName, brokerAddr and brokerId")
	}
	if s.table.unregister(name, addr, id) {
		s.log.Info("namesrv: broker unregistered", "brokerName", name, "brokerAddr", addr, "brokerId", id)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

func jsonResponse(req *remoting.Command, v any) *remoting.Command {
	body, err := json.Marshal(v)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

func (s *Server) getRouteInfo(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, ok := req.ExtFields[ExtTopic]
	if !ok || topic == "" {
		return badRequest(req, "GET_ROUTEINFO_BY_TOPIC needs a topic")
	}
	rd, ok := s.Route(topic)
	if !ok {
		return remoting.NewResponse(req, remoting.TopicNotExist,
			"No topic route info in name server for the topic: "+topic)
	}
	return jsonResponse(req, rd)
}

func (s *Server) getClusterInfo(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	return jsonResponse(req, s.table.clusterInfo())
}

func (s *Server) getAllTopics(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	return jsonResponse(req, TopicList{TopicList: s.table.topicList()})
}

func (s *Server) deleteTopic(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic := req.Ext(ExtTopic)
	if topic == "" {
		return badRequest(req, "DELETE_TOPIC_IN_NAMESRV needs a topic")
	}
	if s.table.deleteTopic(topic) {
		s.log.Info("namesrv: topic deleted", "topic", topic)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}
