{{/* The web image: the digest, when set, replaces the tag (Bitnami's rule). */}}
{{- define "shop.webImage" -}}
{{- $img := .Values.web.image -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $img.registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.registry $img.repository $img.tag -}}
{{- end -}}
{{- end -}}
