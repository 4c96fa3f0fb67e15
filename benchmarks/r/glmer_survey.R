# Warm timing of lme4 on the survey benchmark's data: the random-intercept logit
#   y ~ x1 + x2 + (1 | psu), Laplace, without the design (R has no pseudo-likelihood GLMM in
# Debian's packages; this is the unweighted model, a lower bound for any weighted R route).
# Usage: Rscript glmer_survey.R <survey.csv> [n = 5]
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})
csv <- arg(1)
n <- as.integer(arg(2, "5"))
d <- read.csv(csv)
d$psu <- factor(d$psu)
fit <- function() glmer(y ~ x1 + x2 + (1 | psu), d, family = binomial)
m <- fit()
times <- vapply(seq_len(n), function(i) as.numeric(elapsed(fit())), numeric(1))
emit(peer = "lme4", model = "survey_logit_unweighted_laplace", median_s = median(times),
     min_s = min(times), n = n, loglik = as.numeric(logLik(m)),
     version = as.character(packageVersion("lme4")))
