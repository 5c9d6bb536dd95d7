{{- define "kps.image" -}}
{{- if .sha }}{{ .registry }}/{{ .repository }}:{{ .tag }}@sha256:{{ .sha }}{{ else }}{{ .registry }}/{{ .repository }}:{{ .tag }}{{ end }}
{{- end }}
