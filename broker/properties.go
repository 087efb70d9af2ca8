package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// setter applies one broker.conf value to a Config.
type setter func(c *Config, v string) error

func setString(f func(c *Config) *string) setter {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

func setInt(f func(c *Config) *int) setter {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		*f(c) = n
		return nil
	}
}

func setInt64(f func(c *Config) *int64) setter {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		*f(c) = n
		return nil
	}
}

func setBool(f func(c *Config) *bool) setter {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", v)
		}
		*f(c) = b
		return nil
	}
}

// setUnits reads a duration RocketMQ gives as an integer number of unit
// (named units in errors); a Go duration such as "1.5s" is accepted too.
func setUnits(unit time.Duration, units string, f func(c *Config) *time.Duration) setter {
	return func(c *Config, v string) error {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			*f(c) = time.Duration(n) * unit
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not %s or a duration: %q", units, v)
		}
		*f(c) = d
		return nil
	}
}

// setMillis reads a RocketMQ "...Mills" value (milliseconds).
func setMillis(f func(c *Config) *time.Duration) setter {
	return setUnits(time.Millisecond, "milliseconds", f)
}

// setSeconds reads a RocketMQ "...Seconds" value.
func setSeconds(f func(c *Config) *time.Duration) setter { return setUnits(time.Second, "seconds", f) }

// setHours reads fileReservedTime (hours).
func setHours(f func(c *Config) *time.Duration) setter { return setUnits(time.Hour, "hours", f) }

// setExporterType reads metricsExporterType: RocketMQ's enum by name or by
// value (DISABLE 0, OTLP_GRPC 1, PROM 2, LOG 3); only DISABLE and PROM are
// served, and Validate refuses the others by name.
func setExporterType(c *Config, v string) error {
	switch strings.ToUpper(v) {
	case "0", "DISABLE":
		c.MetricsExporterType = MetricsDisable
	case "2", "PROM":
		c.MetricsExporterType = MetricsProm
	case "1", "OTLP_GRPC":
		c.MetricsExporterType = "OTLP_GRPC"
	case "3", "LOG":
		c.MetricsExporterType = "LOG"
	default:
		return fmt.Errorf("not an exporter type (DISABLE, OTLP_GRPC, PROM, LOG): %q", v)
	}
	return nil
}

// ParseDeleteWhen reads deleteWhen: hours of the day separated by ";"
// ("04", "04;16").
func ParseDeleteWhen(v string) ([]int, error) {
	var hours []int
	for _, f := range strings.Split(v, ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		h, err := strconv.Atoi(f)
		if err != nil || h < 0 || h > 23 {
			return nil, fmt.Errorf("deleteWhen %q: %q is not an hour in [0, 23]", v, f)
		}
		hours = append(hours, h)
	}
	if len(hours) == 0 {
		return nil, fmt.Errorf("deleteWhen %q names no hour", v)
	}
	return hours, nil
}

// confKeys maps every broker.conf key we understand (old and new
// spellings) to its setter.
var confKeys = map[string]setter{
	"brokerName":                      setString(func(c *Config) *string { return &c.BrokerName }),
	"brokerClusterName":               setString(func(c *Config) *string { return &c.BrokerClusterName }),
	"brokerId":                        setInt64(func(c *Config) *int64 { return &c.BrokerID }),
	"brokerIP1":                       setString(func(c *Config) *string { return &c.BrokerIP1 }),
	"listenPort":                      setInt(func(c *Config) *int { return &c.ListenPort }),
	"brokerVIP":                       setString(func(c *Config) *string { return &c.BrokerVIP }),
	"namesrvAddr":                     setString(func(c *Config) *string { return &c.NamesrvAddr }),
	"namesrv.addr":                    setString(func(c *Config) *string { return &c.NamesrvAddr }),
	"rocketmq.namesrv.addr":           setString(func(c *Config) *string { return &c.NamesrvAddr }),
	"autoCreateTopicEnable":           setBool(func(c *Config) *bool { return &c.AutoCreateTopicEnable }),
	"autoCreateSubscriptionGroup":     setBool(func(c *Config) *bool { return &c.AutoCreateSubscriptionGroup }),
	"defaultTopicQueueNums":           setInt(func(c *Config) *int { return &c.DefaultTopicQueueNums }),
	"brokerPermission":                setInt(func(c *Config) *int { return &c.BrokerPermission }),
	"maxMessageSize":                  setInt(func(c *Config) *int { return &c.MaxMessageSize }),
	"regionId":                        setString(func(c *Config) *string { return &c.RegionID }),
	"traceOn":                         setBool(func(c *Config) *bool { return &c.TraceOn }),
	"longPollingEnable":               setBool(func(c *Config) *bool { return &c.LongPollingEnable }),
	"shortPollingTimeMills":           setMillis(func(c *Config) *time.Duration { return &c.ShortPollingTimeMills }),
	"maxLongPollingTimeMills":         setMillis(func(c *Config) *time.Duration { return &c.MaxLongPollingTime }),
	"pullMaxMsgNums":                  setInt(func(c *Config) *int { return &c.PullMaxMsgNums }),
	"pullMessageThreadPoolNums":       setInt(func(c *Config) *int { return &c.PullThreads }),
	"registerNameServerPeriod":        setMillis(func(c *Config) *time.Duration { return &c.RegisterNameServerPeriod }),
	"registerBrokerTimeoutMills":      setMillis(func(c *Config) *time.Duration { return &c.RegisterBrokerTimeoutMills }),
	"channelExpiredTimeout":           setMillis(func(c *Config) *time.Duration { return &c.ChannelExpiredTimeout }),
	"clientScanInterval":              setMillis(func(c *Config) *time.Duration { return &c.ClientScanInterval }),
	"notifyConsumerIdsChangedEnable":  setBool(func(c *Config) *bool { return &c.NotifyConsumerIdsChangedEnable }),
	"messageDelayLevel":               setString(func(c *Config) *string { return &c.MessageDelayLevel }),
	"maxReconsumeTimes":               setInt(func(c *Config) *int { return &c.MaxReconsumeTimes }),
	"retryQueueNums":                  setInt(func(c *Config) *int { return &c.RetryQueueNums }),
	"scheduleIdleInterval":            setMillis(func(c *Config) *time.Duration { return &c.ScheduleIdleInterval }),
	"transactionTimeOut":              setMillis(func(c *Config) *time.Duration { return &c.TransactionTimeOut }),
	"transactionCheckInterval":        setMillis(func(c *Config) *time.Duration { return &c.TransactionCheckInterval }),
	"transactionCheckMax":             setInt(func(c *Config) *int { return &c.TransactionCheckMax }),
	"sendMessageTimeout":              setMillis(func(c *Config) *time.Duration { return &c.WriteTimeout }),
	"storePathRootDir":                setString(func(c *Config) *string { return &c.StorePathRootDir }),
	"storePathCommitLog":              setString(func(c *Config) *string { return &c.StorePathCommitLog }),
	"mappedFileSizeCommitLog":         setInt64(func(c *Config) *int64 { return &c.MappedFileSizeCommitLog }),
	"mapedFileSizeCommitLog":          setInt64(func(c *Config) *int64 { return &c.MappedFileSizeCommitLog }),
	"flushDiskType":                   setString(func(c *Config) *string { return &c.FlushDiskType }),
	"pageCacheWindowCommitLog":        setInt64(func(c *Config) *int64 { return &c.PageCacheWindowCommitLog }),
	"warmMapedFileEnable":             setBool(func(c *Config) *bool { return &c.WarmMapedFileEnable }),
	"fileReservedTime":                setHours(func(c *Config) *time.Duration { return &c.FileReservedTime }),
	"deleteWhen":                      setString(func(c *Config) *string { return &c.DeleteWhen }),
	"diskMaxUsedSpaceRatio":           setInt(func(c *Config) *int { return &c.DiskMaxUsedSpaceRatio }),
	"dLegerGroup":                     setString(func(c *Config) *string { return &c.DLedgerGroup }),
	"dLedgerGroup":                    setString(func(c *Config) *string { return &c.DLedgerGroup }),
	"dLegerPeers":                     setString(func(c *Config) *string { return &c.DLedgerPeers }),
	"dLedgerPeers":                    setString(func(c *Config) *string { return &c.DLedgerPeers }),
	"dLegerSelfId":                    setString(func(c *Config) *string { return &c.DLedgerSelfID }),
	"dLedgerSelfId":                   setString(func(c *Config) *string { return &c.DLedgerSelfID }),
	"serverChannelMaxIdleTimeSeconds": setSeconds(func(c *Config) *time.Duration { return &c.ServerChannelMaxIdleTime }),
	"metricsExporterType":             setExporterType,
	"metricsPromExporterHost":         setString(func(c *Config) *string { return &c.MetricsPromExporterHost }),
	"metricsPromExporterPort":         setInt(func(c *Config) *int { return &c.MetricsPromExporterPort }),
}

// ignoredKeys are RocketMQ settings that have no meaning here (the Raft
// group replaces master/slave roles and HA; we have no thread pools to
// size); LoadProperties accepts them with a softer warning.
var ignoredKeys = map[string]bool{
	"brokerRole": true, "enableDLegerCommitLog": true,
	"brokerIP2": true, "haListenPort": true, "sendMessageThreadPoolNums": true, "useReentrantLockWhenPutMessage": true,
	"waitTimeMillsInSendQueue": true, "flushIntervalCommitLog": true, "storePathConsumeQueue": true,
	"storePathIndex": true, "storeCheckpoint": true, "abortFile": true, "mapedFileSizeConsumeQueue": true,
	"mappedFileSizeConsumeQueue": true, "maxTransferBytesOnMessageInMemory": true,
	"transientStorePoolEnable": true, "slaveReadEnable": true, "clusterTopicEnable": true, "brokerTopicEnable": true,
	"rocketmqHome": true, "aclEnable": true, "enablePropertyFilter": true, "traceTopicEnable": true,
	"msgTraceTopicName": true, "fetchNamesrvAddrByAddressServer": true, "rejectTransactionMessage": true,
}

// LoadProperties reads a RocketMQ broker.conf (Java properties: `key=value`
// or `key: value` per line, `#` and `!` comments, blank lines) on top of
// DefaultConfig. Unknown keys are reported as warnings, not errors; a value
// that does not parse is an error (all of them are reported, joined). The
// result is not validated: call Validate.
func LoadProperties(r io.Reader) (Config, []string, error) {
	cfg := DefaultConfig()
	var warnings []string
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == '!' {
			continue
		}
		i := strings.IndexAny(s, "=:")
		if i < 0 {
			errs = append(errs, fmt.Errorf("%w: line %d: %q is not key=value", ErrConfig, line, s))
			continue
		}
		key, val := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		set, ok := confKeys[key]
		switch {
		case ok:
			if err := set(&cfg, val); err != nil {
				errs = append(errs, fmt.Errorf("%w: line %d: %s: %v", ErrConfig, line, key, err))
			}
		case ignoredKeys[key]:
			warnings = append(warnings, fmt.Sprintf("line %d: %s has no effect in this broker; ignored", line, key))
		default:
			warnings = append(warnings, fmt.Sprintf("line %d: unknown key %s; ignored", line, key))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("broker: read config: %w", err))
	}
	return cfg, warnings, errors.Join(errs...)
}

// PropertyKeys returns every broker.conf key LoadProperties understands,
// sorted (for help texts).
func PropertyKeys() []string {
	keys := make([]string, 0, len(confKeys))
	for k := range confKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
