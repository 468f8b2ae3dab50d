# %%
import re
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, Pipeline
from sklearn.model_selection import train_test_split, cross_val_score, GridSearchCV
from sklearn.metrics import accuracy_score, f1_score, classification_report

# %%
positive = ["great movie, loved the acting", "a wonderful and moving story", "brilliant direction and a superb cast",
            "I enjoyed every minute", "funny, warm and clever", "the best film this year", "beautiful photography",
            "a delightful surprise", "strong performances all round", "an instant classic", "charming and witty",
            "I would watch it again", "a joy from start to finish", "excellent script", "touching and honest"]
negative = ["boring and far too long", "the plot made no sense", "terrible acting throughout", "I fell asleep",
            "a waste of time", "dull, predictable and flat", "the worst film this year", "awful dialogue",
            "poorly edited mess", "I want my money back", "clumsy and loud", "not funny at all",
            "weak story, weaker ending", "painful to sit through", "lazy and forgettable"]
reviews = pd.DataFrame({"text": positive + negative, "label": [1] * len(positive) + [0] * len(negative)})
reviews.sample(5, random_state=0)

# %%
reviews["length"] = reviews["text"].str.split().str.len()
reviews.groupby("label")["length"].describe()

# %%
reviews["length"].plot.hist(bins=10, title="Review length (words)")
plt.show()

# %%
def clean(text):
    text = text.lower()
    return re.sub(r"[^a-z ]", " ", text)

reviews["clean"] = reviews["text"].map(clean)
reviews.head()

# %% expect: params=token_pattern,min_df; models=vectorizer<-?
token_pattern = r"(?u)\b\w\w+\b"
min_df = 1
vectorizer = CountVectorizer(token_pattern=token_pattern, min_df=min_df, stop_words="english")
bow = vectorizer.fit_transform(reviews["clean"])
bow.shape

# %%
vocab = pd.Series(np.asarray(bow.sum(axis=0)).ravel(), index=vectorizer.get_feature_names_out())
vocab.sort_values(ascending=False).head(10)

# %%
vocab.sort_values(ascending=False).head(15).plot.bar()
plt.title("Most frequent words")
plt.show()

# %%
X_train, X_test, y_train, y_test = train_test_split(reviews["clean"], reviews["label"], test_size=0.3,
                                                    random_state=1, stratify=reviews["label"])

# %% expect: params=alpha; models=nb_pipe<-?; metrics=nb_acc
alpha = 0.5
nb_pipe = make_pipeline(CountVectorizer(), MultinomialNB(alpha=alpha))
nb_pipe.fit(X_train, y_train)
nb_acc = accuracy_score(y_test, nb_pipe.predict(X_test))
print("naive Bayes accuracy:", round(nb_acc, 3))

# %%
print(classification_report(y_test, nb_pipe.predict(X_test), zero_division=0))

# %% expect: models=lr_pipe<-?; metrics=lr_cv.mean,lr_cv.std
lr_pipe = Pipeline([("tfidf", TfidfVectorizer(ngram_range=(1, 2))), ("clf", LogisticRegression(C=10))])
lr_pipe.fit(X_train, y_train)
lr_cv = cross_val_score(lr_pipe, reviews["clean"], reviews["label"], cv=3)
lr_cv

# %% expect: metrics=lr_f1
lr_f1 = f1_score(y_test, lr_pipe.predict(X_test))
lr_f1

# %% expect: params=grid_params; models=text_grid<-?; metrics=text_grid.best_score_
grid_params = {"tfidf__min_df": [1, 2], "clf__C": [1, 10]}
text_grid = GridSearchCV(lr_pipe, grid_params, cv=3)
text_grid.fit(reviews["clean"], reviews["label"])
print(text_grid.best_params_)

# %%
new_reviews = ["what a wonderful film", "boring, dull and too long", "not the best but funny"]
text_grid.predict([clean(t) for t in new_reviews])

# %%
coefs = pd.Series(text_grid.best_estimator_.named_steps["clf"].coef_[0],
                  index=text_grid.best_estimator_.named_steps["tfidf"].get_feature_names_out())
coefs.sort_values().iloc[[0, 1, 2, -3, -2, -1]]

# %%
coefs.sort_values().iloc[list(range(5)) + list(range(-5, 0))].plot.barh(figsize=(6, 4))
plt.title("Most telling words")
plt.show()

# %%
predictions = []
for text in new_reviews:
    predictions.append(int(nb_pipe.predict([clean(text)])[0]))
predictions

# %%
mistakes = reviews[nb_pipe.predict(reviews["clean"]) != reviews["label"]]
mistakes[["text", "label"]]

# %%
word_counts = reviews.assign(words=reviews["clean"].str.split()).explode("words")
word_counts.groupby("label")["words"].nunique()

# %%
# Lengths of the reviews the model got wrong
mistakes["text"].str.len().describe()

# %% expect: metrics=balanced_accuracy_score
from sklearn.metrics import balanced_accuracy_score
balanced_accuracy_score(y_test, nb_pipe.predict(X_test))

# %% expect: metrics=accuracy_score
# A score that is only printed, never assigned nor shown: not recorded (documented limitation)
print("Accuracy of the tuned model:", accuracy_score(y_test, text_grid.predict(X_test)))
