// CoreDNS for the project's single-node cluster: only the plugins a cluster DNS uses (the
// kubeadm Corefile's, plus log, hosts and whoami), so the build compiles a fraction of the
// upstream binary. Built by images/build.py into the coredns image.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// directives is the execution order: a subsequence of upstream's plugin.cfg order (a plugin
// sees the effects of every plugin after it). images/tests check it against the module's
// plugin.cfg, so a CoreDNS upgrade that reorders plugins fails there, not in a cluster.
var directives = []string{
	"reload",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"hosts",
	"kubernetes",
	"loop",
	"forward",
	"whoami",
}

func main() {
	// Read lazily when the Corefile is parsed, so setting it before Run is enough.
	dnsserver.Directives = directives
	coremain.Run()
}
