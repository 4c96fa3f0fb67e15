# One nlme fit of a random-intercept model with AR(1) errors within id, ML.
# Usage: Rscript lme_ar1.R <ar1.csv>
# Prints one JSON line: peer, model, read_s, fit_s (in-process seconds of the lme() call),
# loglik, rho, nobs. The caller times the whole Rscript process from outside.
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})
suppressPackageStartupMessages(library(nlme))

csv <- arg(1)
read_s <- elapsed({
  d <- read.csv(csv)
})
fit_s <- elapsed(lme(y ~ x, random = ~ 1 | id, correlation = corAR1(form = ~ time | id),
                     data = d, method = "ML"))
m <- attr(fit_s, "value")
emit(peer = "nlme", model = "ar1", read_s = as.numeric(read_s), fit_s = as.numeric(fit_s),
     loglik = as.numeric(logLik(m)),
     rho = as.numeric(coef(m$modelStruct$corStruct, unconstrained = FALSE)),
     nobs = nrow(d), version = as.character(packageVersion("nlme")))
