{{/* Labels every object of the mesh carries (upstream names: `osm uninstall -a` and
     `osm mesh list` select on them). */}}
{{- define "osm.labels" -}}
app.kubernetes.io/name: openservicemesh.io
app.kubernetes.io/instance: {{ .Values.osm.meshName }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Control-plane image; the tag defaults to the chart's appVersion. */}}
{{- define "osm.image" -}}
{{- $tag := .Values.osm.image.tag | default .Chart.AppVersion -}}
{{- printf "%s/%s:%s" .Values.osm.image.registry .Values.osm.image.name $tag -}}
{{- end -}}

{{/* The injected iptables init container's image: osm.initContainerImage, else the small
     osm-init image next to the control-plane image (docs/container-contract.md). */}}
{{- define "osm.initImage" -}}
{{- if .Values.osm.initContainerImage -}}
{{- .Values.osm.initContainerImage -}}
{{- else -}}
{{- $tag := .Values.osm.image.tag | default .Chart.AppVersion -}}
{{- printf "%s/osm-init:%s" .Values.osm.image.registry $tag -}}
{{- end -}}
{{- end -}}

{{/* Cluster-scoped names must not collide between meshes, so they carry the mesh name. */}}
{{- define "osm.clusterName" -}}
{{- printf "%s-%s" .root.Values.osm.meshName .name -}}
{{- end -}}

{{- define "osm.tracingAddress" -}}
{{- if .Values.osm.tracing.address -}}
{{- .Values.osm.tracing.address -}}
{{- else -}}
{{- printf "jaeger.%s.svc.cluster.local" .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "osm.imagePullSecrets" -}}
{{- with .Values.osm.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod security: non-root, no privilege escalation, read-only root, default seccomp. */}}
{{- define "osm.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .uid }}
  runAsGroup: {{ .uid }}
  fsGroup: {{ .uid }}
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "osm.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{/* Downward API: the controller needs its own pod name and namespace. */}}
{{- define "osm.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OSM_MESH_NAME
  value: {{ .Values.osm.meshName | quote }}
{{- end -}}
