# Reference cases for GLMM post-estimation: conditional modes of the random effects (empirical
# Bayes modes, Stata's ebmodes) with lme4's conditional standard errors (ranef(condVar = TRUE)),
# and the fitted means / linear predictors conditional on those modes.
# Run from the repository root:
#   Rscript tests/reference/make_refs_glmm_predict.R
# Writes tests/reference/cases/predict_glmm_*.json (data files already live in tests/reference/data).
# Needs lme4 and jsonlite.
#
# The tests evaluate mejax's modes at lme4's estimates (theta and beta stored here), so the
# comparison does not depend on how closely the two optimisers agree.  For canonical links
# (logit, log) lme4's condVar is the inverse curvature of the integrand at the mode, which is what
# Stata's ebmodes standard errors are.  Every lme4 fit uses tolPwrss = 1e-14, so the modes are
# converged far below the test tolerance (see make_refs_glmm.R, note 1).
#
# Each case is also checked here: the modes are recomputed by a joint maximisation written
# below: optim (BFGS from u = 0, analytic gradient) on the joint penalized log likelihood at lme4's
# estimates; they must agree with lme4's to 1e-6.
suppressPackageStartupMessages({
  library(lme4); library(jsonlite)
})
ref_dir <- file.path("tests", "reference")
read_data <- function(name) read.csv(file.path(ref_dir, "data", paste0(name, ".csv")))
ctl_tight <- glmerControl(tolPwrss = 1e-14, optCtrl = list(maxfun = 1e5))
software <- paste("R lme4", as.character(packageVersion("lme4")))

save_case <- function(id, data, model, ref) {
  case <- list(id = id, data = paste0(data, ".csv"), model = model, reference = ref)
  write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
        file.path(ref_dir, "cases", paste0(id, ".json")))
  cat(sprintf("%-44s written\n", id))
}

# modes of u (b = Lambda u) maximising log p(y | u) - |u|^2 / 2 at lme4's estimates, by optim
joint_modes <- function(m) {
  X <- getME(m, "X"); Zt <- getME(m, "Zt"); L <- getME(m, "Lambda")
  eta0 <- as.vector(X %*% fixef(m)) + getME(m, "offset")
  ZL <- t(as.matrix(t(L) %*% Zt))
  fam <- family(m); y <- getME(m, "y"); w <- weights(m)
  obj <- function(u) {
    mu <- fam$linkinv(eta0 + as.vector(ZL %*% u))
    if (fam$family == "binomial") ll <- sum(w * (y * log(mu) + (1 - y) * log1p(-mu)))
    else ll <- sum(y * log(mu) - mu)
    -(ll - sum(u^2) / 2)
  }
  grad <- function(u) {
    eta <- eta0 + as.vector(ZL %*% u)
    mu <- fam$linkinv(eta)
    score <- if (fam$family == "binomial") w * (y - mu) else (y - mu)  # canonical links
    -(as.vector(t(ZL) %*% score) - u)
  }
  u <- optim(numeric(length(getME(m, "u"))), obj, grad, method = "BFGS",
             control = list(reltol = 1e-16, maxit = 10000))$par
  as.vector(L %*% u)
}

check_modes <- function(id, m) {
  b_own <- joint_modes(m)
  b_lme4 <- as.vector(getME(m, "b"))
  err <- max(abs(b_own - b_lme4))
  cat(sprintf("%-44s max |b(optim) - b(lme4)| = %.2e\n", id, err))
  if (err > 1e-6) stop(id, ": modes do not agree")
}

glmm_pred_ref <- function(m) {
  re <- ranef(m, condVar = TRUE)
  cnms <- getME(m, "cnms")
  terms <- list()
  for (g in names(cnms)) {
    tab <- re[[g]]; pv <- attr(tab, "postVar"); k <- length(cnms[[g]])
    term <- list(group = g, levels = rownames(tab), effects = cnms[[g]])
    for (j in seq_len(k)) {
      e <- cnms[[g]][j]
      term[[paste0("b_", e)]] <- tab[[e]]
      term[[paste0("se_", e)]] <- sqrt(pv[j, j, ])
    }
    terms[[length(terms) + 1]] <- term
  }
  th <- getME(m, "theta")
  list(software = software, fixef = as.list(fixef(m)), theta = as.list(th),
       theta_names = names(th), loglik = as.numeric(logLik(m)), ranef = terms,
       fitted_response = as.vector(fitted(m)),
       fitted_link = as.vector(predict(m, type = "link")))
}

## cbpp: binomial (size trials), logit, (1 | herd), Laplace --------------------------------------
cb <- read_data("cbpp")
cb$herd <- factor(cb$herd)
m <- glmer(cbind(incidence, size - incidence) ~ factor(period) + (1 | herd), cb,
           family = binomial, control = ctl_tight)
check_modes("predict_glmm_cbpp_binomial_laplace", m)
save_case("predict_glmm_cbpp_binomial_laplace", "cbpp", list(
  kind = "melogit", family = "binomial", link = "logit", method = "laplace",
  stata = "melogit incidence i.period || herd:, binomial(size) intmethod(laplace)",
  stata_names = list("(Intercept)" = "_cons", "factor(period)2" = "2.period",
                     "factor(period)3" = "3.period", "factor(period)4" = "4.period"),
  note = "fitted_response is the probability p (lme4); Stata's mu is size * p"),
  glmm_pred_ref(m))

## contraception: Bernoulli logit, (1 + urban | district) unstructured, Laplace -----------------
ct <- read_data("contraception")
m <- glmer(c_use ~ urban + age + child1 + child2 + child3 + (1 + urban | district), ct,
           family = binomial, control = ctl_tight)
check_modes("predict_glmm_contraception_slope_laplace", m)
save_case("predict_glmm_contraception_slope_laplace", "contraception", list(
  kind = "melogit", family = "bernoulli", link = "logit", method = "laplace",
  stata = paste("melogit c_use urban age child1 child2 child3 || district: urban,",
                "covariance(unstructured) intmethod(laplace)"),
  stata_names = list("(Intercept)" = "_cons", urban = "urban", age = "age", child1 = "child1",
                     child2 = "child2", child3 = "child3"),
  note = "theta: lme4's column-wise lower Cholesky factor of (_cons, urban)"),
  glmm_pred_ref(m))

## grouseticks: Poisson, (1 | LOCATION/BROOD), Laplace (mejax's sparse engine) -----------------
gt <- read_data("grouseticks")
gt$YEAR <- factor(gt$YEAR); gt$LOCATION <- factor(gt$LOCATION); gt$BROOD <- factor(gt$BROOD)
m <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION/BROOD), gt, family = poisson,
           control = ctl_tight)
check_modes("predict_glmm_grouseticks_nested_laplace", m)
save_case("predict_glmm_grouseticks_nested_laplace", "grouseticks", list(
  kind = "mepoisson", family = "poisson", link = "log", method = "laplace",
  stata = "mepoisson TICKS i.YEAR cHEIGHT || LOCATION: || BROOD:, intmethod(laplace)",
  stata_names = list("(Intercept)" = "_cons", YEAR96 = "96.YEAR", YEAR97 = "97.YEAR",
                     cHEIGHT = "cHEIGHT"),
  note = "group BROOD:LOCATION levels are 'BROOD:LOCATION'"),
  glmm_pred_ref(m))
