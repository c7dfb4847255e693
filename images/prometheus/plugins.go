// Service discovery compiled into the image's Prometheus: Kubernetes only (the chart scrapes
// pods found with kubernetes_sd_configs; file and HTTP discovery stay, from upstream's
// plugins/minimum.go). This is upstream's own way to choose plugins (plugins.yml, then
// `make plugins` regenerates plugins/plugins.go); images/artifacts.py puts this file in place
// of plugins/plugins.go in a copy of the module, which drops the cloud SDKs (AWS, Azure,
// GCE, ...) from the build: far less to compile on a 2-core machine.
package plugins

import (
	// Register kubernetes plugin.
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
)
