{{/* The image of a control-plane component: the tag wins when set (as in OSM). */}}
{{- define "demo.image" -}}
{{- $img := .root.Values.osm.image -}}
{{- if $img.tag -}}
{{- printf "%s/%s:%s" $img.registry (index $img.name .component) $img.tag -}}
{{- else -}}
{{- printf "%s/%s@%s" $img.registry (index $img.name .component) (index $img.digest .component) -}}
{{- end -}}
{{- end -}}

{{/* Bitnami-style: the digest overrides the tag. */}}
{{- define "demo.healthcheckImage" -}}
{{- $img := .Values.osm.healthcheck.image -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $img.registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.registry $img.repository $img.tag -}}
{{- end -}}
{{- end -}}
