{{/* The image of an OSM control-plane component: registry/name:tag when a tag
is set, else registry/name@digest. Written for this fixture after the
behaviour FIELD-NOTES describes for OSM >= 1.2. */}}
{{- define "osm.componentImage" -}}
{{- $img := .root.Values.osm.image -}}
{{- if $img.tag -}}
{{- printf "%s/%s:%s" $img.registry (index $img.name .key) $img.tag -}}
{{- else -}}
{{- printf "%s/%s@%s" $img.registry (index $img.name .key) (index $img.digest .key) -}}
{{- end -}}
{{- end -}}
