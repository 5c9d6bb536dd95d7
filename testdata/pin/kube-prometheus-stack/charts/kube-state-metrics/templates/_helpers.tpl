{{- define "kube-state-metrics.image" -}}
{{- if .Values.image.sha }}
{{- printf "%s/%s:%s@%s" .Values.image.registry .Values.image.repository (default .Chart.AppVersion .Values.image.tag) .Values.image.sha }}
{{- end }}
image: "{{ .Values.image.repository }}@{{ .Values.image.sha }}"
{{- end }}
