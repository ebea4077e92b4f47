// Package temporalsrv runs a Temporal server inside confhub's process, for
// `confhub dev` and `confhub bench`: persistent (a SQLite file, or a
// PostgreSQL database) so that workflows survive a restart, with the Temporal
// Web UI beside it when asked. Production runs a real Temporal cluster.
package temporalsrv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiopts "github.com/temporalio/ui-server/v2/server/server_options"
)

// Options configure the embedded server. Exactly one of SQLiteFile and
// PostgresURL names the store.
type Options struct {
	// SQLiteFile is the database file; created with its schema when missing.
	SQLiteFile string
	// PostgresURL is a PostgreSQL server (postgres://user@host:port/); the
	// databases temporal and temporal_visibility are created there.
	PostgresURL string
	// Frontend is the gRPC address clients dial (host:port).
	Frontend string
	// UI is the Web UI's address (host:port); empty for none.
	UI        string
	Namespace string
	Log       *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	srv      temporal.Server
	ui       *uiserver.Server
	frontend string
	uiURL    string
}

// Start brings the server up and returns when its frontend answers.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	host, portStr, err := net.SplitHostPort(o.Frontend)
	if err != nil {
		return nil, fmt.Errorf("temporal frontend address %q: %w", o.Frontend, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("temporal frontend address %q: the port is not a number", o.Frontend)
	}
	if err := free(o.Frontend); err != nil {
		return nil, fmt.Errorf("the embedded Temporal server cannot listen on %s: %w", o.Frontend, err)
	}
	if o.UI != "" {
		if err := free(o.UI); err != nil {
			return nil, fmt.Errorf("the Temporal Web UI cannot listen on %s: %w", o.UI, err)
		}
	}

	store, visibility, err := storeConfig(o)
	if err != nil {
		return nil, err
	}
	logger := slogLogger{o.Log}
	ns, err := sqlite.NewNamespaceConfig("active", o.Namespace, false, nil)
	if err != nil {
		return nil, err
	}
	// Registering the namespace in the store before the server starts avoids
	// the wait for the namespace cache that registration over the API has.
	if err := sqlite.CreateNamespaces(store, ns); err != nil {
		return nil, fmt.Errorf("creating the Temporal namespace: %w", err)
	}

	cfg := &config.Config{}
	// The services' internal ports are kept beside a SQLite store and taken
	// again on the next start: the store remembers the cluster's members by
	// address, and a server restarted after a crash on other ports would
	// wait for its dead former self to answer (ringpop's join), then fail.
	saved := loadPorts(o.SQLiteFile)
	pick := func(name string, p int) (int, error) {
		if p != 0 {
			return p, nil
		}
		if p := saved[name]; p != 0 && free(net.JoinHostPort(host, strconv.Itoa(p))) == nil {
			return p, nil
		}
		return freePort(host)
	}
	chosen := map[string]int{}
	cfg.Services = map[string]config.Service{}
	for i, name := range []string{"frontend", "history", "matching", "worker"} {
		p := 0
		if i == 0 {
			p = port
		}
		grpcPort, err := pick(name+".grpc", p)
		if err != nil {
			return nil, err
		}
		mport, err := pick(name+".membership", 0)
		if err != nil {
			return nil, err
		}
		chosen[name+".grpc"], chosen[name+".membership"] = grpcPort, mport
		cfg.Services[name] = config.Service{RPC: config.RPC{GRPCPort: grpcPort, MembershipPort: mport, BindOnIP: host}}
	}
	savePorts(o.SQLiteFile, chosen)
	metricsPort, err := freePort(host)
	if err != nil {
		return nil, err
	}
	cfg.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: host}
	cfg.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
		ListenAddress: net.JoinHostPort(host, strconv.Itoa(metricsPort)), HandlerPath: "/metrics"}}
	cfg.Persistence = config.Persistence{
		DefaultStore: "default", VisibilityStore: "visibility", NumHistoryShards: 1,
		DataStores: map[string]config.DataStore{"default": {SQL: store}, "visibility": {SQL: visibility}},
	}
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace: false, FailoverVersionIncrement: 10,
		MasterClusterName: "active", CurrentClusterName: "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: o.Frontend},
		},
	}
	cfg.DCRedirectionPolicy = config.DCRedirectionPolicy{Policy: "noop"}
	cfg.Archival = config.Archival{History: config.HistoryArchival{State: "disabled"}, Visibility: config.VisibilityArchival{State: "disabled"}}
	cfg.NamespaceDefaults = config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
		History: config.HistoryArchivalNamespaceDefaults{State: "disabled"}, Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"}}}
	cfg.PublicClient = config.PublicClient{HostPort: o.Frontend}

	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("configuring the embedded Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting the embedded Temporal server: %w", err)
	}
	s := &Server{srv: srv, frontend: o.Frontend}
	if err := waitListening(ctx, o.Frontend); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	if o.UI != "" {
		uh, up, _ := net.SplitHostPort(o.UI)
		upn, _ := strconv.Atoi(up)
		s.ui = uiserver.NewServer(uiopts.WithConfigProvider(&uiconfig.Config{
			Host: uh, Port: upn, TemporalGRPCAddress: o.Frontend, EnableUI: true,
			DefaultNamespace: o.Namespace, HideLogs: true, DisableNewsFetch: true,
			CORS: uiconfig.CORS{CookieInsecure: true},
		}))
		go func() { _ = s.ui.Start() }()
		if err := waitListening(ctx, o.UI); err != nil {
			s.Stop()
			return nil, fmt.Errorf("the Temporal Web UI: %w", err)
		}
		s.uiURL = "http://" + o.UI
	}
	return s, nil
}

// Frontend is the address clients dial.
func (s *Server) Frontend() string { return s.frontend }

// UIURL is the Web UI's URL, or "" without one.
func (s *Server) UIURL() string { return s.uiURL }

// Stop shuts the UI and the server down.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.srv.Stop()
}

func storeConfig(o Options) (store, visibility *config.SQL, err error) {
	switch {
	case o.SQLiteFile != "" && o.PostgresURL != "":
		return nil, nil, errors.New("temporalsrv: a SQLite file or a PostgreSQL URL, not both")
	case o.SQLiteFile != "":
		c := &config.SQL{PluginName: sqliteplugin.PluginName, DatabaseName: o.SQLiteFile,
			ConnectAttributes: map[string]string{"mode": "rwc", "_journal_mode": "wal", "_synchronous": "normal"}}
		if _, err := os.Stat(o.SQLiteFile); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(o.SQLiteFile), 0o700); err != nil {
				return nil, nil, err
			}
			if err := sqlite.SetupSchema(c); err != nil {
				_ = os.Remove(o.SQLiteFile)
				return nil, nil, fmt.Errorf("creating the Temporal schema in %s: %w", o.SQLiteFile, err)
			}
		}
		return c, c, nil
	case o.PostgresURL != "":
		u, err := url.Parse(o.PostgresURL)
		if err != nil {
			return nil, nil, fmt.Errorf("temporalsrv: the PostgreSQL URL: %w", err)
		}
		pw, _ := u.User.Password()
		mk := func(db string) *config.SQL {
			return &config.SQL{PluginName: postgresql.PluginNamePGX, DatabaseName: db, ConnectAddr: u.Host,
				ConnectProtocol: "tcp", User: u.User.Username(), Password: pw, MaxConns: 20, MaxIdleConns: 20}
		}
		store, visibility := mk("temporal"), mk("temporal_visibility")
		quiet := slogLogger{o.Log.With("step", "temporal schema")}
		if err := pgSchema(store, "postgresql/v12/temporal", quiet); err != nil {
			return nil, nil, err
		}
		if err := pgSchema(visibility, "postgresql/v12/visibility", quiet); err != nil {
			return nil, nil, err
		}
		return store, visibility, nil
	}
	return nil, nil, errors.New("temporalsrv: no store: set a SQLite file or a PostgreSQL URL")
}

// pgSchema creates a database and brings its Temporal schema up to date
// with the server's own schema tool (a no-op when it is current).
func pgSchema(store *config.SQL, schemaName string, logger tlog.Logger) error {
	c := *store
	if err := sqltool.DoCreateDatabase(&c, "postgres", logger); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("creating database %s for Temporal: %w", store.DatabaseName, err)
	}
	conn, err := sqltool.NewConnection(store, logger)
	if err != nil {
		return fmt.Errorf("connecting to Temporal's database %s: %w", store.DatabaseName, err)
	}
	defer conn.Close()
	if _, err := conn.ReadSchemaVersion(); err != nil {
		if err := schematool.NewSetupSchemaTask(conn, &schematool.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
			return fmt.Errorf("the Temporal schema in database %s: %w", store.DatabaseName, err)
		}
	}
	if err := schematool.NewUpdateSchemaTask(conn, &schematool.UpdateConfig{DBName: store.DatabaseName, SchemaName: schemaName}, logger).Run(); err != nil {
		return fmt.Errorf("the Temporal schema in database %s: %w", store.DatabaseName, err)
	}
	return nil
}

func free(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

var (
	portsMu sync.Mutex
	picked  = map[int]bool{} // handed out already: a port just closed looks free again
)

// freePort finds a port below 32768: Temporal's SQL schemas keep membership
// ports in a SMALLINT, so the kernel's ephemeral ports (32768 and up) fail.
func freePort(host string) (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		p := 20000 + rand.IntN(12000)
		if picked[p] {
			continue
		}
		if l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
			_ = l.Close()
			picked[p] = true
			return p, nil
		}
	}
	return 0, errors.New("temporalsrv: no free port in 20000-31999")
}

func waitListening(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on %s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// slogLogger hands the server's logs to slog.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]any, 0, len(tags)+1)
	attrs = append(attrs, "component", "temporal")
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	s.l.Log(context.Background(), level, msg, attrs...)
}

func (s slogLogger) Debug(msg string, tags ...tag.Tag)  { s.log(slog.LevelDebug, msg, tags) }
func (s slogLogger) Info(msg string, tags ...tag.Tag)   { s.log(slog.LevelInfo, msg, tags) }
func (s slogLogger) Warn(msg string, tags ...tag.Tag)   { s.log(slog.LevelWarn, msg, tags) }
func (s slogLogger) Error(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }
func (s slogLogger) Panic(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags); panic(msg) }
func (s slogLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	os.Exit(1)
}

var _ tlog.Logger = slogLogger{}

// loadPorts reads the ports a server on this SQLite store used last time
// (none for a PostgreSQL store, or a first start).
func loadPorts(sqliteFile string) map[string]int {
	ports := map[string]int{}
	if sqliteFile == "" {
		return ports
	}
	b, err := os.ReadFile(sqliteFile + ".ports")
	if err == nil {
		_ = json.Unmarshal(b, &ports)
	}
	return ports
}

func savePorts(sqliteFile string, ports map[string]int) {
	if sqliteFile == "" {
		return
	}
	b, _ := json.Marshal(ports)
	_ = os.WriteFile(sqliteFile+".ports", b, 0o600)
}
